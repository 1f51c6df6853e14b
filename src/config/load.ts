// Loads a stack file for one environment: parse YAML keeping source ranges,
// merge the environment overlay, interpolate ${VAR}, validate with the schema.
// Every failure is a ConfigError naming file:line:column and the key path.
import { readFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, isMap, LineCounter } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { stackFileSchema, type Stack, type StackFile } from './schema.js';
import { parseEnvFile } from './envfile.js';
import { interpolateTree, type InterpolationResult } from './interpolate.js';
import { isSecretName } from '../util/redact.js';
import { monitoringServiceNames } from './monitoring.js';
import { locate, locateKey, hasPath, sourcePath, rememberSource, type Source } from './source.js';

export interface LoadOptions {
  file: string;
  env?: string;
  /** the environment variables to interpolate from (the CLI passes its own): config never reads process.env */
  processEnv: Record<string, string | undefined>;
  /** extra variables that win over everything (e.g. VERSION from --version) */
  overrides?: Record<string, string>;
  /** skip the required-variable check (render, plan and schema work without secrets) */
  allowMissing?: boolean;
}

export function readStackSource(file: string): Source {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ConfigError(`${file}: stack file not found`, 'pass -f FILE, or set LIFEOPS_STACK');
  if (statSync(abs).isDirectory()) throw new ConfigError(`${file}: is a directory, not a stack file`);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read the stack file (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.trim() === '') throw new ConfigError(`${file}: the stack file is empty`, 'start from stacks/demo.yaml, or see `lifeops schema`');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const problem = doc.errors[0];
  if (problem) {
    const pos = lines.linePos(problem.pos[0]);
    const what = problem.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'YAML syntax error';
    const detail = problem.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '');
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: ${what}: ${detail}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new ConfigError(`${file}:1:1: the stack file must be a mapping of keys (name, services, ...)`);
  return { file, doc, lines };
}

export function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

export function didYouMean(word: string, options: string[]): string | undefined {
  const prefixed = options.filter((o) => word.length >= 3 && o.toLowerCase().startsWith(word.toLowerCase()));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestScore = Infinity;
  for (const o of options) {
    const d = levenshtein(word.toLowerCase(), o.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = o;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
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
    default:
      return { text: `found ${describeValue(found)}; ${issue.message}` };
  }
}

function validKeysAt(keyPath: PropertyKey[]): string[] {
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

export function loadStack(opts: LoadOptions): Stack {
  const src = readStackSource(opts.file);
  const raw = src.doc.toJS({ maxAliasCount: 1000 }) as Record<string, unknown>;
  const processEnv = opts.processEnv;
  const envNames = environmentNames(src);
  const envName = opts.env ?? (raw.default_environment as string | undefined) ?? processEnv.LIFEOPS_ENV;
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

  const environments = (raw.environments ?? {}) as Record<string, Record<string, unknown>>;
  const overlay = { ...(environments[envName] ?? {}) };
  const envFile = typeof overlay.env_file === 'string' ? overlay.env_file : undefined;
  const production = typeof overlay.production === 'boolean' ? overlay.production : envName === 'production';
  delete overlay.env_file;
  delete overlay.production;
  const merged = mergeOverlay(raw, overlay) as Record<string, unknown>;

  // Variables: stack defaults < env file < process environment < explicit overrides.
  const baseDir = path.dirname(path.resolve(src.file));
  const variables = (isPlainObject(merged.variables) ? merged.variables : {}) as { defaults?: Record<string, unknown>; secrets?: unknown; required?: unknown };
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(variables.defaults ?? {})) vars[k] = String(v);
  if (envFile) {
    const envPath = path.resolve(baseDir, envFile);
    if (existsSync(envPath)) Object.assign(vars, parseEnvFile(envPath));
  }
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) vars[k] = v;
  Object.assign(vars, opts.overrides ?? {});
  vars.LIFEOPS_ENV = envName;

  const extraSecrets = Array.isArray(variables.secrets) ? variables.secrets.map(String) : [];
  const secretNames = new Set(extraSecrets);
  const interp: InterpolationResult = interpolateTree(merged, vars, (name) => secretNames.has(name) || isSecretName(name));
  if (interp.errors.length > 0) {
    const e = interp.errors[0];
    const where = hasPath(src, e.path) ? locate(src, e.path) : locate(src, ['environments', envName, ...e.path]);
    throw new ConfigError(`${src.file}:${where}: ${e.path.join('.')}: ${e.message}`, envFile ? `set it in the environment or in ${envFile}` : 'set it in the environment');
  }

  const parsed = stackFileSchema.safeParse(interp.value);
  if (!parsed.success) throw schemaError(src, parsed.error, interp.value, envName);
  const file = parsed.data as StackFile;
  checkReferences(src, file, envName);

  // Required variables: declared ones, plus every ${VAR} used without a default.
  const missing = [...new Set([...file.variables.required, ...interp.unset])].filter((v) => vars[v] === undefined || vars[v] === '');
  if (missing.length > 0 && !opts.allowMissing) {
    throw new ConfigError(
      `${src.file}: environment "${envName}": required variable${missing.length > 1 ? 's' : ''} not set: ${missing.join(', ')}`,
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
    env: envName,
    production,
    project: `${file.name}-${envName}`,
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
 * Names that must point at a service: the front's own service, every domain's
 * upstream (an app service, or one the monitoring override adds), and every
 * depends_on. A wrong name would otherwise render a route to nowhere. Also
 * promtail, which has nowhere to ship without loki.
 */
function checkReferences(src: Source, file: StackFile, envName: string): void {
  const services = Object.keys(file.services);
  const mon = file.monitoring?.enabled ? file.monitoring : undefined;
  const routable = [...services, ...(mon ? monitoringServiceNames(mon) : [])];
  const refs: { keyPath: (string | number)[]; name: string; valid: string[]; what: string; isKey?: boolean }[] = [];
  if (file.front) {
    refs.push({ keyPath: ['front', 'service'], name: file.front.service, valid: services, what: 'a service' });
    file.front.domains.forEach((d, i) => refs.push({ keyPath: ['front', 'domains', i, 'upstream'], name: d.upstream, valid: routable, what: 'a service the front can reach' }));
  }
  for (const [svc, def] of Object.entries(file.services)) {
    for (const dep of Object.keys(def.depends_on)) refs.push({ keyPath: ['services', svc, 'depends_on', dep], name: dep, valid: services, what: 'a service', isKey: true });
  }
  const lines = refs
    .filter((r) => !r.valid.includes(r.name))
    .map((r) => {
      const hint = didYouMean(r.name, r.valid);
      const at = sourcePath(src, envName, r.keyPath);
      const where = r.isKey ? locateKey(src, at.slice(0, -1), r.name) : locate(src, at);
      return `${src.file}:${where}: ${r.keyPath.join('.')}: "${r.name}" is not ${r.what}${hint ? ` (did you mean "${hint}"?)` : ''}; valid: ${r.valid.join(', ')}`;
    });
  if (lines.length) throw new ConfigError(lines.join('\n'), 'name one of the services listed');
  if (mon?.exporters.includes('promtail') && !mon.exporters.includes('loki')) {
    const at = sourcePath(src, envName, ['monitoring', 'exporters']);
    throw new ConfigError(`${src.file}:${locate(src, at)}: monitoring.exporters: promtail ships logs to the loki exporter, which is not listed`, 'add loki to monitoring.exporters, or remove promtail');
  }
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
        const where = locateKey(src, srcPath, key);
        lines.push(
          `${src.file}:${where}: ${[...keyPath, key].join('.')}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; valid keys: ${valid.join(', ')}`,
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
