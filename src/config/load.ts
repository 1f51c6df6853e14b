// Loads a stack file for one environment: parse YAML keeping source ranges,
// merge the environment overlay, interpolate ${VAR}, validate with the schema.
// Every failure is a ConfigError naming file:line:column and the key path.
import { readFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, isMap, isSeq, isScalar, isPair, isAlias, visit, LineCounter, type Alias, type Document, type Node } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { stackFileSchema, type Service, type Stack, type StackFile } from './schema.js';
import { parseEnvFile } from './envfile.js';
import { checkOverlayServices } from './overlay-check.js';
import { interpolateTree, type InterpolationResult } from './interpolate.js';
import { isSecretName } from '../util/redact.js';
import { locate, locateKey, sourcePath, keySourcePath, rememberSource, type Source } from './source.js';
import { checkReferences, checkStack, resolveServiceEnvFiles } from './checks.js';
import { jsonExact, parseCacheKey, type ParsedStackFile, type StackParseCache } from './parse-cache.js';
import { didYouMean } from './suggest.js';
import { composeSpecDocument, composeSpecProblems, ownedKeyProblems, splitComposeKeys, validKeysOf, type ComposeExtras, type ComposeProblem } from './compose-spec.js';

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

/** Offset of the first byte that is not part of a valid UTF-8 sequence (-1: none found by this scan). */
function firstBadUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

/** Real stack files are a few KiB; the largest seed stack is under 20 KiB. */
export const MAX_STACK_FILE_BYTES = 1024 * 1024;

export function readStackSource(file: string, maxBytes = MAX_STACK_FILE_BYTES): Source {
  return parseStackSource(file, readStackBytes(file, maxBytes));
}

/** The stack file's bytes, after the checks that need no parsing (exists, not a folder, not too large). */
export function readStackBytes(file: string, maxBytes = MAX_STACK_FILE_BYTES): Buffer {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ConfigError(`${file}: stack file not found`, 'pass -f FILE, or set LIFEOPS_STACK');
  const st = statSync(abs);
  if (st.isDirectory()) throw new ConfigError(`${file}: is a directory, not a stack file`);
  // the YAML parser's time grows faster than the file: refuse up front what no real stack needs
  if (st.size > maxBytes) {
    throw new ConfigError(`${file}: ${st.size} bytes is larger than the ${maxBytes / 1024 / 1024} MiB a stack file may be`, 'split it: environments can live in their own env_file, templates in templates/');
  }
  try {
    return readFileSync(abs);
  } catch (e) {
    throw new ConfigError(`${file}: cannot read the stack file (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The YAML document of the stack file's bytes, with source ranges; every problem a ConfigError at file:line:col. */
export function parseStackSource(file: string, bytes: Buffer): Source {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Decoding with replacement characters would let a mangled value through unseen.
    const at = Math.max(0, firstBadUtf8(bytes));
    const prefix = bytes.subarray(0, at).toString('utf8');
    const before = prefix.split('\n');
    const where = `${before.length}:${before[before.length - 1].length + 1}`;
    // The key it sits under, from a lenient read (replacement characters) of the same text.
    const lenient = parseDocument(bytes.toString('utf8'), { prettyErrors: false });
    const keyPath = keyPathAtOffset(lenient, prefix.length);
    throw new ConfigError(`${file}:${where}: ${keyPath.length ? keyPath.join('.') : '(top level)'}: the stack file is not valid UTF-8 (byte 0x${(bytes[at] ?? 0).toString(16).padStart(2, '0')} at offset ${at})`, 'save the stack file as UTF-8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new ConfigError(`${file}:1:1: (top level): the stack file is empty`, 'start from stacks/demo.yaml, or see `lifeops schema`');
  const lines = new LineCounter();
  // merge: YAML merge keys (`<<: *app`), as compose files use them.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true, merge: true });
  const problem = doc.errors[0];
  if (problem) {
    const pos = lines.linePos(problem.pos[0]);
    const what = problem.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'YAML syntax error';
    const detail = problem.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '');
    const keyPath = keyPathAtOffset(doc, problem.pos[0]);
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: ${keyPath.length ? `${keyPath.join('.')}: ` : ''}${what}: ${detail}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new ConfigError(`${file}:1:1: (top level): the stack file must be a mapping of keys (name, services, ...)`);
  // `__proto__` as a key would vanish in the JavaScript objects lifeops builds (an environment variable dropped unseen)
  visit(doc, {
    Pair(_k, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.value !== '__proto__') return;
      const pos = lines.linePos(pair.key.range?.[0] ?? 0);
      const keyPath = [...ancestorKeyPath(ancestors, pair), '__proto__'];
      throw new ConfigError(`${file}:${pos.line}:${pos.col}: ${keyPath.join('.')}: the key __proto__ cannot be carried through; valid: any other name`);
    },
  });
  return { file, doc, lines };
}

/** The key path of the innermost pair whose key or value spans `offset` (for YAML errors). */
function keyPathAtOffset(doc: Document.Parsed, offset: number): (string | number)[] {
  const out: (string | number)[] = [];
  let node: unknown = doc.contents;
  for (let depth = 0; depth < 100 && node; depth++) {
    if (isMap(node)) {
      // The last pair starting at or before the offset; an offset past its value still names it.
      const span = (p: { key: unknown; value: unknown }) => {
        const k = p.key as Node | null;
        const v = p.value as Node | null;
        return { start: k?.range?.[0] ?? v?.range?.[0] ?? Infinity, end: v?.range?.[1] ?? k?.range?.[1] ?? -1 };
      };
      const before = node.items.filter((p) => span(p).start <= offset);
      const pair = before[before.length - 1];
      if (!pair) break;
      out.push(isScalar(pair.key) ? String(pair.key.value) : '?');
      if (offset >= span(pair).end) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((it) => {
        const r = (it as Node | null)?.range;
        return r && offset >= r[0] && offset < r[1];
      });
      if (i < 0) break;
      out.push(i);
      node = node.items[i];
    } else break;
  }
  return out;
}

const MAX_ALIAS_COUNT = 1000;

/** The YAML document as plain data; alias problems (an unresolved alias, an alias bomb) are stack-file errors at the alias. */
export function stackValue(src: Source): Record<string, unknown> {
  try {
    return src.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Record<string, unknown>;
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    const unresolved = /Unresolved alias/i.test(message);
    const bomb = /alias count/i.test(message);
    if (!unresolved && !bomb) throw e;
    // Find the alias to blame: the first one naming no earlier anchor, or the
    // first one whose anchored node holds aliases itself (how a bomb grows).
    const anchors = new Set<string>();
    let blamed: { node: Alias; ancestors: readonly unknown[] } | undefined;
    let first: typeof blamed;
    visit(src.doc, (_key, node, ancestors) => {
      if (isAlias(node)) {
        first ??= { node, ancestors };
        if (unresolved && !anchors.has(node.source)) blamed = { node, ancestors };
        if (bomb) {
          const target = node.resolve(src.doc);
          let nested = false;
          if (target) visit(target as Node, { Alias: () => { nested = true; return visit.BREAK; } });
          if (nested) blamed = { node, ancestors };
        }
        if (blamed) return visit.BREAK;
      } else if ((node as { anchor?: string } | null)?.anchor) anchors.add((node as { anchor: string }).anchor);
      return undefined;
    });
    const hit = blamed ?? first;
    const pos = src.lines.linePos(hit?.node.range?.[0] ?? 0);
    const keyPath = hit ? ancestorKeyPath(hit.ancestors, hit.node) : [];
    const at = keyPath.length ? keyPath.join('.') : '(top level)';
    const problem = unresolved
      ? `alias *${hit?.node.source ?? '?'} names no anchor set before it; valid: an alias after its &anchor`
      : `aliases expand to more than ${MAX_ALIAS_COUNT} nodes (an alias bomb?) starting with *${hit?.node.source ?? '?'}; valid: at most ${MAX_ALIAS_COUNT} alias expansions in all`;
    throw new ConfigError(`${src.file}:${pos.line}:${pos.col}: ${at}: ${problem}`);
  }
}

function ancestorKeyPath(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const a = chain[i];
    const next = chain[i + 1];
    if (isPair(a)) {
      if (next === a.value) out.push(isScalar(a.key) ? String(a.key.value) : '?');
    } else if (isSeq(a)) out.push(a.items.indexOf(next as never));
  }
  return out;
}

export { levenshtein, didYouMean } from './suggest.js';

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

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${String(v)}`;
}

function getAt(obj: unknown, keyPath: PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of keyPath) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function zodIssueMessage(issue: ZodError['issues'][number], found: unknown): { text: string; unknownKeys?: string[] } {
  switch (issue.code) {
    case 'unrecognized_keys':
      return { text: 'unknown key', unknownKeys: issue.keys };
    case 'invalid_type':
      return { text: `expected ${issue.expected}, found ${describeValue(found)}` };
    case 'invalid_value':
      return { text: `found ${describeValue(found)}; valid values: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'invalid_format':
      return { text: `found ${describeValue(found)}; expected ${issue.message.replace(/^Invalid string: /, '')}` };
    case 'too_small':
    case 'too_big':
      return { text: `found ${describeValue(found)}; ${issue.message}` };
    case 'invalid_union': {
      // what each alternative wanted: "a string or a number", 'a size such as "512M" or an integer ...'
      const alts = issue.errors.map((branch) => branch[0]).filter((i) => i !== undefined);
      const said = [...new Set(alts.map((i) => (i.code === 'invalid_type' ? `${/^[aeiou]/.test(i.expected) ? 'an' : 'a'} ${i.expected}` : i.code === 'invalid_format' ? i.message.replace(/^Invalid string: /, '') : i.code === 'invalid_value' ? i.values.map((v) => JSON.stringify(v)).join(' or ') : i.message)))];
      return { text: `found ${describeValue(found)}; valid: ${said.length ? said.join(' or ') : issue.message}` };
    }
    default:
      return { text: `found ${describeValue(found)}; ${issue.message}` };
  }
}

/** The valid keys as printed: at a service, network or volume, lifeops' own and a pointer to compose's. */
function listValid(keyPath: PropertyKey[], valid: string[]): string {
  const kind = keyPath.length === 2 ? ({ services: 'service', networks: 'network', volumes: 'volume' } as const)[keyPath[0] as string] : undefined;
  if (!kind) return valid.join(', ');
  const own = Object.keys((unwrap((stackFileSchema.shape as any)[keyPath[0] as string])._zod.def.valueType as any).shape ?? {});
  return `${own.join(', ')}, or any ${kind} key of the Compose Specification (${valid.filter((k) => !own.includes(k)).slice(0, 6).join(', ')}, ...)`;
}

function validKeysAt(keyPath: PropertyKey[]): string[] {
  if (keyPath.length === 2 && keyPath[0] === 'services') return validKeysOf('service');
  if (keyPath.length === 2 && keyPath[0] === 'networks') return validKeysOf('network');
  if (keyPath.length === 2 && keyPath[0] === 'volumes') return validKeysOf('volume');
  // Walk the schema's shape to list the keys valid at this path (for "did you mean").
  let schema: any = stackFileSchema;
  for (const k of keyPath) {
    schema = unwrap(schema);
    if (schema?.shape) schema = schema.shape[k as string];
    else if (schema?._zod?.def?.type === 'record') schema = schema._zod.def.valueType;
    else if (schema?._zod?.def?.type === 'array') schema = schema._zod.def.element;
    else return [];
  }
  schema = unwrap(schema);
  return schema?.shape ? Object.keys(schema.shape) : [];
}

function unwrap(schema: any): any {
  let s = schema;
  for (let i = 0; i < 10 && s?._zod?.def; i++) {
    const def = s._zod.def;
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe') s = def.in;
    else break;
  }
  return s;
}

export function environmentNames(src: Source): string[] {
  const envs = src.doc.get('environments');
  return isMap(envs) ? envs.items.map((p) => String((p.key as any).value)) : [];
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

function schemaError(src: Source, error: ZodError, value: unknown, envName: string): ConfigError {
  const lines: string[] = [];
  for (const issue of error.issues.slice(0, 5)) {
    const keyPath = issue.path as (string | number)[];
    const found = getAt(value, keyPath);
    const msg = zodIssueMessage(issue, found);
    // A key set by the overlay is reported where the overlay sets it.
    const srcPath = sourcePath(src, envName, keyPath);
    if (msg.unknownKeys) {
      const valid = validKeysAt(keyPath);
      for (const key of msg.unknownKeys) {
        const hint = didYouMean(key, valid);
        const where = locateKey(src, keySourcePath(src, envName, keyPath, key), key);
        lines.push(
          `${src.file}:${where}: ${[...keyPath, key].join('.')}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; valid keys: ${listValid(keyPath, valid)}`,
        );
      }
    } else {
      const keyName = keyPath.length ? keyPath.join('.') : '(top level)';
      const where = found === undefined && keyPath.length ? locate(src, srcPath.slice(0, -1)) : locate(src, srcPath);
      const text = found === undefined ? `missing required key${issue.code === 'invalid_type' ? ` (expected ${(issue as any).expected})` : ''}` : msg.text;
      lines.push(`${src.file}:${where}: ${keyName}: ${text}`);
    }
  }
  if (error.issues.length > 5) lines.push(`... and ${error.issues.length - 5} more problems`);
  return new ConfigError(lines.join('\n'), 'see `lifeops schema` for every valid key');
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
