// Loads a stack file for one environment: parse YAML keeping source ranges
// (stack-yaml.ts), merge the environment overlay, interpolate ${VAR},
// validate with the schema (its failures worded by schema-errors.ts).
// Every failure is a ConfigError naming file:line:column and the key path.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { stackFileSchema, type Service, type Stack, type StackFile } from './schema.js';
import { swarmSchema } from './swarm-schema.js';
import { parseEnvFile } from './envfile.js';
import { checkOverlayServices } from './overlay-check.js';
import { interpolateTree, type InterpolationResult } from './interpolate.js';
import { isSecretName } from '../util/redact.js';
import { locate, locateKey, sourcePath, keySourcePath, rememberSource, type Source } from './source.js';
import { checkReferences, checkStack, resolveServiceEnvFiles } from './checks.js';
import { jsonExact, parseCacheKey, type ParsedStackFile, type StackParseCache } from './parse-cache.js';
import { didYouMean } from './suggest.js';
import { readStackBytes, parseStackSource, stackValue, environmentNames } from './stack-yaml.js';
import { listValid, schemaError, validKeysAt } from './schema-errors.js';
import { composeSpecDocument, composeSpecProblems, ownedKeyProblems, splitComposeKeys, type ComposeExtras, type ComposeProblem } from './compose-spec.js';

export interface LoadOptions {
  file: string;
  env?: string;
  /** the environment variables to interpolate from (the CLI passes its own): config never reads process.env */
  processEnv: Record<string, string | undefined>;
  /** extra variables that win over everything (e.g. VERSION from --version) */
  overrides?: Record<string, string>;
  /** skip the required-variable check (render, plan and schema work without secrets) */
  allowMissing?: boolean;
  /** the size limit (default MAX_STACK_FILE_BYTES); bench/load-size.sh raises it to measure */
  maxBytes?: number;
  /** where the parse of an unchanged stack file is kept between runs (status: every minute from cron) */
  parseCache?: StackParseCache;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: mappings merge key by key, everything else (lists too) is replaced. */
export function mergeOverlay(base: unknown, overlay: unknown): unknown {
  if (isPlainObject(base) && isPlainObject(overlay)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(overlay)) out[k] = k in base ? mergeOverlay(base[k], v) : v;
    return out;
  }
  return overlay === undefined ? base : overlay;
}

/**
 * Compose's extension fields (`x-app: &app ...`, top level or in a service)
 * hold anchors for merge keys and mean nothing else: dropped, as compose does.
 */
function dropExtensions(raw: Record<string, unknown>): Record<string, unknown> {
  const strip = (m: unknown) => (isPlainObject(m) ? Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('x-'))) : m);
  const inServices = (m: unknown) =>
    isPlainObject(m) && isPlainObject(m.services) ? { ...m, services: Object.fromEntries(Object.entries(m.services).map(([k, v]) => [k, strip(v)])) } : m;
  const out = inServices(strip(raw)) as Record<string, unknown>;
  if (isPlainObject(out.environments)) out.environments = Object.fromEntries(Object.entries(out.environments).map(([k, v]) => [k, inServices(strip(v))]));
  return out;
}

/** An env_file entry as written: a path, or { path, required }; undefined when it has neither shape (the schema reports it). */
function envFileSpec(v: unknown): { path: string; required: boolean } | undefined {
  if (typeof v === 'string' && v) return { path: v, required: true };
  if (isPlainObject(v) && typeof v.path === 'string' && v.path) return { path: v.path, required: v.required !== false };
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The parsed stack file: from the cache when these bytes were parsed before
 * (the YAML document, needed only to place an error at its line, is then
 * parsed on first use), else parsed now. `remember` stores it with what the
 * run learnt since (othersChecked), as JSON taken before the run used it.
 */
function parsedFile(file: string, bytes: Buffer, cache: StackParseCache | undefined): { src: Source; parsed: ParsedStackFile; remember: () => void } {
  if (!cache) {
    const src = parseStackSource(file, bytes);
    return { src, parsed: { value: stackValue(src), environments: environmentNames(src), othersChecked: [] }, remember: () => {} };
  }
  const key = parseCacheKey(cache.build, bytes);
  const abs = path.resolve(file);
  let hit: ParsedStackFile | undefined;
  try {
    hit = cache.get(abs, key);
  } catch {
    hit = undefined; // unreadable or damaged: parse
  }
  let src: Source;
  let parsed: ParsedStackFile;
  if (hit) {
    let doc: Source | undefined;
    const lazy = () => (doc ??= parseStackSource(file, bytes));
    src = {
      file,
      get doc() {
        return lazy().doc;
      },
      get lines() {
        return lazy().lines;
      },
    };
    parsed = hit;
  } else {
    src = parseStackSource(file, bytes);
    parsed = { value: stackValue(src), environments: environmentNames(src), othersChecked: [] };
    if (!jsonExact(parsed.value)) return { src, parsed, remember: () => {} };
  }
  const snapshot = JSON.stringify(parsed.value);
  const remember = () => {
    try {
      cache.put(abs, key, { ...parsed, value: JSON.parse(snapshot) as Record<string, unknown> });
    } catch {
      // a read-only state folder: parsed again next time
    }
  };
  return { src, parsed, remember };
}

export function loadStack(opts: LoadOptions): Stack {
  const bytes = readStackBytes(opts.file, opts.maxBytes);
  const { src, parsed: parse, remember } = parsedFile(opts.file, bytes, opts.parseCache);
  const raw = dropExtensions(parse.value);
  const processEnv = opts.processEnv;
  const envNames = parse.environments;
  const envName = opts.env ?? (typeof raw.default_environment === 'string' ? raw.default_environment : undefined) ?? processEnv.LIFEOPS_ENV;
  if (!envName) {
    throw new ConfigError(`${src.file}: no environment chosen and the stack has no default_environment`, `pass --env ENV (one of: ${envNames.join(', ') || 'none declared'})`);
  }
  const declared = envNames.length > 0;
  if (declared && !envNames.includes(envName)) {
    const hint = didYouMean(envName, envNames);
    throw new ConfigError(
      `${src.file}:${locate(src, ['environments'])}: environments: no environment "${envName}"${hint ? ` (did you mean "${hint}"?)` : ''}; declared: ${envNames.join(', ')}`,
    );
  }

  const environments = (isPlainObject(raw.environments) ? raw.environments : {}) as Record<string, unknown>;
  const chosen = environments[envName];
  const overlay: Record<string, unknown> = isPlainObject(chosen) ? { ...chosen } : {};
  const envFileValue = overlay.env_file;
  const production = typeof overlay.production === 'boolean' ? overlay.production : envName === 'production';
  delete overlay.env_file;
  delete overlay.production;
  if ('environments' in overlay) {
    throw new ConfigError(`${src.file}:${locateKey(src, ['environments', envName], 'environments')}: environments.${envName}.environments: unknown key; an environment cannot declare environments`);
  }
  // Only the chosen environment's overlay is merged and interpolated: the
  // others may use variables set only where they deploy.
  const { environments: _all, ...base } = raw;
  checkOverlayServices(src, base, environments);
  const merged = mergeOverlay(base, overlay) as Record<string, unknown>;

  // Variables: stack defaults < env file < process environment < explicit overrides.
  const baseDir = path.dirname(path.resolve(src.file));
  const variables = (isPlainObject(merged.variables) ? merged.variables : {}) as { defaults?: Record<string, unknown>; secrets?: unknown; required?: unknown };
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(isPlainObject(variables.defaults) ? variables.defaults : {})) vars[k] = String(v);
  const fileVarNames: string[] = [];
  let envFile: string | undefined;
  const spec = envFileSpec(envFileValue);
  if (spec) {
    const envPath = path.resolve(baseDir, spec.path);
    // placed only when there is an error to place (the document may not be parsed otherwise)
    const where = () => `${src.file}:${locate(src, ['environments', envName, 'env_file'])}: environments.${envName}.env_file`;
    if (isFile(envPath)) {
      let fromFile: Record<string, string>;
      try {
        fromFile = parseEnvFile(envPath, processEnv);
      } catch (e) {
        if (e instanceof ConfigError) throw e;
        throw new ConfigError(`${where()}: cannot read ${spec.path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      Object.assign(vars, fromFile);
      fileVarNames.push(...Object.keys(fromFile));
      envFile = spec.path;
    } else if (spec.required) {
      throw new ConfigError(
        `${where()}: ${spec.path} does not exist (looked for ${envPath}); valid: a file relative to the stack file's folder`,
        `create it, or write env_file: { path: ${spec.path}, required: false } if it exists only where this environment deploys`,
      );
    }
  }
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) vars[k] = v;
  Object.assign(vars, opts.overrides ?? {});
  vars.LIFEOPS_ENV = envName;

  const extraSecrets = Array.isArray(variables.secrets) ? variables.secrets.map(String) : [];
  const secretNames = new Set(extraSecrets);
  const isSecret = (n: string) => secretNames.has(n) || isSecretName(n);
  const interp: InterpolationResult = interpolateTree(merged, vars, isSecret);
  if (interp.errors.length > 0) {
    const lines = interp.errors.slice(0, 5).map((e) => `${src.file}:${locate(src, sourcePath(src, envName, e.path))}: ${e.path.join('.')}: ${e.message}`);
    throw new ConfigError(lines.join('\n'), envFile ? `set it in the environment or in ${envFile}` : 'set it in the environment');
  }

  // A ${VAR} set nowhere is an error where it is written, never a silent "".
  // Without secrets at hand (render, plan), a secret may stay unset: rendered
  // files keep its ${VAR} reference and compose reads it at deploy time.
  const unsetRefs = interp.unsetRefs.filter((r) => vars[r.name] === undefined && !(opts.allowMissing && isSecret(r.name)));
  if (unsetRefs.length > 0) {
    const firstPerName = unsetRefs.filter((r, i) => unsetRefs.findIndex((x) => x.name === r.name) === i);
    const known = [...new Set([...Object.keys(vars).filter((k) => !(k in processEnv)), ...fileVarNames])];
    const whereSet = `the process environment, ${envFile ? `${envFile} (environments.${envName}.env_file)` : `an env_file of environments.${envName}`} or variables.defaults`;
    const lines = firstPerName.slice(0, 5).map((r) => {
      const hint = didYouMean(r.name, known);
      return `${src.file}:${locate(src, sourcePath(src, envName, r.path))}: ${r.path.join('.')}: required variable not set: ${r.name}${hint ? ` (did you mean ${hint}?)` : ''}; set it in ${whereSet}, or write \${${r.name}:-} where an empty value is meant`;
    });
    if (firstPerName.length > 5) lines.push(`... and ${firstPerName.length - 5} more unset variables`);
    throw new ConfigError(lines.join('\n'), envFile ? `export ${firstPerName[0].name}=... or add it to ${envFile}` : `export ${firstPerName[0].name}=...`);
  }

  // Keys only the Compose Specification has pass through; the typed schema checks the rest.
  const split = splitComposeKeys(interp.value as Record<string, unknown>);
  const value = { ...split.value, ...(raw.environments !== undefined ? { environments: raw.environments } : {}) };
  const parsed = stackFileSchema.safeParse(value);
  if (!parsed.success) throw schemaError(src, parsed.error, value, envName);
  const file = parsed.data as StackFile;
  attachComposeExtras(src, file, split.extras, split.value, envName);
  // a pure function of the file: once passed for this environment, remembered with the parse
  if (!parse.othersChecked.includes(envName)) {
    checkOtherEnvironments(src, base, environments, envName);
    parse.othersChecked = [...parse.othersChecked, envName];
    remember();
  }
  checkReferences(src, file, envName);
  checkStack(src, file, envName, baseDir);
  resolveServiceEnvFiles(src, file, envName, baseDir);

  const missing = file.variables.required.filter((v) => vars[v] === undefined || vars[v] === '');
  if (missing.length > 0 && !opts.allowMissing) {
    throw new ConfigError(
      `${src.file}:${locate(src, sourcePath(src, envName, ['variables', 'required']))}: variables.required: environment "${envName}": required variable${missing.length > 1 ? 's' : ''} not set: ${missing.join(', ')}`,
      envFile ? `export ${missing[0]}=... or add it to ${path.relative(process.cwd(), path.resolve(baseDir, envFile)) || envFile}` : `export ${missing[0]}=...`,
    );
  }
  for (const ref of file.variables.required) if (isSecretName(ref)) secretNames.add(ref);
  for (const n of Object.keys(vars)) if (isSecretName(n)) secretNames.add(n);

  // A machine-wide image mapping (the test bed's) sits under the stack's own.
  const mapFile = vars.LIFEOPS_IMAGE_MAP;
  if (mapFile) file.images = { ...readImageMap(mapFile), ...file.images };

  const stack: Stack = {
    ...file,
    ...(Object.keys(split.extras.top).length ? { composeTop: split.extras.top } : {}),
    env: envName,
    production,
    project: file.project ?? `${file.name}-${envName}`,
    baseDir,
    file: path.resolve(src.file),
    vars,
    secretNames: [...secretNames].sort(),
    secretTemplates: interp.secretTemplates,
    // a swarm environment always has its swarm options (the defaults when it names none): what renders its stack file
    ...(file.target === 'swarm' ? { swarm: file.swarm ?? swarmSchema.parse({}) } : {}),
  };
  rememberSource(stack, src, envName);
  return stack;
}

/**
 * Unknown keys in the environments not chosen: each overlay is merged onto
 * the base and checked for keys the schema does not know (only those: values
 * there may hold variables set only where that environment deploys).
 */
function checkOtherEnvironments(src: Source, base: Record<string, unknown>, environments: Record<string, unknown>, chosen: string): void {
  const lines: string[] = [];
  for (const [env, ov] of Object.entries(environments)) {
    if (env === chosen || !isPlainObject(ov)) continue;
    const { env_file: _f, production: _p, ...rest } = ov;
    const r = stackFileSchema.safeParse(splitComposeKeys(mergeOverlay(base, rest) as Record<string, unknown>).value);
    if (r.success) continue;
    for (const issue of r.error.issues) {
      if (issue.code !== 'unrecognized_keys') continue;
      const keyPath = issue.path as (string | number)[];
      const valid = validKeysAt(keyPath);
      for (const key of issue.keys) {
        const hint = didYouMean(key, valid);
        lines.push(`${src.file}:${locateKey(src, keySourcePath(src, env, keyPath, key), key)}: ${[...keyPath, key].join('.')}: unknown key (environment ${env})${hint ? ` (did you mean "${hint}"?)` : ''}; valid keys: ${listValid(keyPath, valid)}`);
      }
    }
  }
  if (lines.length) throw new ConfigError([...new Set(lines)].slice(0, 5).join('\n'), 'see `lifeops schema` for every valid key');
}

function readImageMap(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`LIFEOPS_IMAGE_MAP=${file}: cannot read the image mapping file`);
  }
  const doc = parseDocument(text);
  const value = doc.toJS() as unknown;
  if (doc.errors.length || !isPlainObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new ConfigError(`${file}: the image mapping must be a YAML mapping of image -> local image`);
  }
  return value as Record<string, string>;
}

/**
 * The compose-only keys, checked against the Compose Specification's JSON
 * Schema and against lifeops' own keys, then put back on the parsed stack:
 * services carry them as `compose`, networks and volumes as more options.
 */
function attachComposeExtras(src: Source, file: StackFile, extras: ComposeExtras, value: Record<string, unknown>, envName: string): void {
  const problems: ComposeProblem[] = [...ownedKeyProblems(extras, file.services), ...composeSpecProblems(composeSpecDocument(extras, value))];
  if (problems.length) {
    const lines = problems.slice(0, 8).map((p) => {
      if (p.key !== undefined) {
        const hint = p.valid ? didYouMean(p.key, p.valid) : undefined;
        const where = locateKey(src, keySourcePath(src, envName, p.path, p.key), p.key);
        return `${src.file}:${where}: ${[...p.path, p.key].join('.')}: ${p.text.replace(/^unknown key/, `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`)}`;
      }
      return `${src.file}:${locate(src, sourcePath(src, envName, p.path))}: ${p.path.join('.')}: ${p.text}`;
    });
    if (problems.length > 8) lines.push(`... and ${problems.length - 8} more problems`);
    throw new ConfigError(lines.join('\n'), 'see the Compose Specification (compose-spec.io) for compose keys, `lifeops schema` for lifeops\' own');
  }
  for (const [name, extra] of Object.entries(extras.services)) if (file.services[name]) (file.services[name] as Service).compose = extra;
  for (const top of ['networks', 'volumes'] as const) {
    for (const [name, extra] of Object.entries(extras[top])) if (file[top][name]) Object.assign(file[top][name], extra);
  }
}
