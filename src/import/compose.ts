// `lifeops import`: a stack file from an existing compose setup. Pure: the
// compose file's text (with the override files compose reads beside it, and
// the project's .env) in, the stack file's text and a generated env file out;
// the CLI handler reads and writes the files.
//
// The files are read as compose reads them: merged (merge.ts), variables from
// .env (values there may refer to each other: the env file written keeps them
// as written, and lifeops' env reader expands them as compose does), the
// project name from --project, COMPOSE_PROJECT_NAME, `name:`, else the folder.
// Each service is rewritten by service.ts. A role is guessed from the image and
// command, with a YAML comment saying why. Literal secrets (values of
// *PASSWORD*, *SECRET*, *TOKEN*, *KEY* variables, the password inside a URL
// such as DATABASE_URL) become ${VARS} whose values go to the env file only.
// What cannot be carried is refused with the key and what to do (exit 2).
import path from 'node:path';
import { Document, isMap, isScalar, type Node } from 'yaml';
import { ConfigError } from '../errors.js';
import { quoteAmbiguous } from '../config/yaml-safe.js';
import { interpolateString, variableRefs, braceBareVars } from '../config/interpolate.js';
import { readComposeYaml } from './yaml-read.js';
import { mergeComposeFiles, resolveExtends } from './merge.js';
import { convertService } from './service.js';
import { managedRedis } from './redis.js';
import { envFileText, planVariables } from './env.js';
import { composeProjectName, isObject, orderKeys, Secrets, type Json } from './values.js';

export { composeProjectName, guessRole, duration } from './values.js';

export interface ImportInput {
  /** the compose file's text and path (relative paths in it are relative to its folder) */
  composeText: string;
  composeFile: string;
  /** files merged over it in order, as compose merges them (compose.override.yaml, further -f files) */
  overrides?: { text: string; file: string }[];
  /** KEY=VALUE text of --env-file (default: the .env beside the compose file, as compose reads it) */
  envText?: string;
  /** its path, for messages */
  envFile?: string;
  /** the environment compose would run in (expands .env values, COMPOSE_PROJECT_NAME); default none */
  processEnv?: Record<string, string | undefined>;
  /** where the stack file will be written (relative paths are rewritten against its folder) */
  outFile: string;
  /** the env file the stack will read (its path relative to the stack file) */
  envFileName: string;
  /** compose project name (default: compose's: COMPOSE_PROJECT_NAME, the file's `name:`, else its folder's name) */
  project?: string;
}

export interface ImportResult {
  /** the stack file's text, with comments */
  stack: string;
  /** KEY=VALUE lines for the generated env file (secrets included: never print it) */
  env: string;
  /** what was guessed or changed, one line each (no values) */
  notes: string[];
  roles: Record<string, { role: string; why: string }>;
  /** names of the variables whose values are secret */
  secretVars: string[];
  /** file:line:col in the compose files of a key path the stack shares with them (services.web.ports.0), if written there */
  where(keyPath: (string | number)[]): string | undefined;
}

/** Every string value of a tree with its key path (x-* keys, which compose ignores, left out). */
function* strings(v: unknown, at: (string | number)[] = []): Generator<{ s: string; at: (string | number)[] }> {
  if (typeof v === 'string') yield { s: v, at };
  else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* strings(v[i], [...at, i]);
  else if (isObject(v)) for (const [k, x] of Object.entries(v)) if (!k.startsWith('x-')) yield* strings(x, [...at, k]);
}

export function importCompose(input: ImportInput): ImportResult {
  const composeDir = path.dirname(path.resolve(input.composeFile));
  const outDir = path.dirname(path.resolve(input.outFile));
  const files = [readComposeYaml(input.composeText, input.composeFile), ...(input.overrides ?? []).map((o) => readComposeYaml(o.text, o.file))];
  /** where a key sits: in the last file that has it (its value wins), else the first file's top */
  const atKey = (keyPath: (string | number)[]) => {
    for (const f of [...files].reverse()) if (f.doc.getIn(keyPath, true) !== undefined) return f.at(keyPath) ?? `${f.file}:1:1`;
    for (const f of [...files].reverse()) {
      const at = f.at(keyPath);
      if (at) return at;
    }
    return `${input.composeFile}:1:1`;
  };
  for (const f of files) {
    if (!isObject(f.raw)) throw new ConfigError(`${f.file}:1:1: (top level): not a mapping; valid: a compose file with services`);
  }
  if (!isObject(files[0].raw) || !isObject(files[0].raw.services)) throw new ConfigError(`${files[0].raw && isObject(files[0].raw) && 'services' in files[0].raw ? atKey(['services']) : `${input.composeFile}:1:1`}: services: no services mapping; valid: a compose file with services`);
  // compose resolves `extends:` in each file as it reads it, then merges the files
  const raw = mergeComposeFiles(
    files.map((f) => {
      const r = f.raw as Json;
      if (!isObject(r.services)) return r;
      const services = resolveExtends(r.services, (name, what) => {
        throw new ConfigError(`${f.at(['services', name, 'extends']) ?? `${f.file}:1:1`}: services.${name}.extends: ${what}`);
      });
      return { ...r, services };
    }),
  );
  if (!isObject(raw.services)) throw new ConfigError(`${atKey(['services'])}: services: no services mapping; valid: a compose file with services`);
  const resolved = raw.services;
  const top = Object.keys(raw).find((k) => !['services', 'networks', 'volumes', 'secrets', 'configs', 'name', 'version'].includes(k) && !k.startsWith('x-'));
  if (top) {
    const todo = top === 'include' ? 'put the included files\' services in this setup (docker compose config prints them merged), then import again' : 'remove it, then import again';
    throw new ConfigError(`${atKey([top])}: ${top}: a top-level key lifeops does not carry; valid: services, networks, volumes, secrets, configs, name, x-*`, todo);
  }

  const envFile = input.envFile ?? '.env';
  const vars = planVariables(input.envText, input.processEnv ?? {}, envFile);
  const envVars = vars.values;
  const projectSource = input.project ?? input.processEnv?.COMPOSE_PROJECT_NAME ?? envVars.COMPOSE_PROJECT_NAME ?? (typeof raw.name === 'string' ? interpolateString(braceBareVars(raw.name), { ...envVars, ...definedOnly(input.processEnv) }).value : undefined) ?? path.basename(composeDir);
  const project = composeProjectName(projectSource);
  if (!project) throw new ConfigError(`${input.composeFile}: cannot make a compose project name from it; pass --project NAME`);
  // compose interpolates ${COMPOSE_PROJECT_NAME} as the project's name when nothing sets it
  if (!('COMPOSE_PROJECT_NAME' in envVars)) {
    vars.entries.push({ key: 'COMPOSE_PROJECT_NAME', value: project, raw: project, quote: "'", line: 0 });
    envVars.COMPOSE_PROJECT_NAME = project;
  }
  const stackName = /^[a-z]/.test(project) ? project.replace(/[^a-z0-9_-]/g, '-') : `app-${project}`;

  // Every variable the files read, wherever it is (a port, a volume path, restart: ...).
  const refs = new Map<string, Set<string>>();
  for (const { s, at } of strings(raw)) {
    for (const r of variableRefs(braceBareVars(s))) {
      if (!refs.has(r.name)) refs.set(r.name, new Set());
      refs.get(r.name)!.add(r.op);
      const isSet = r.name in envVars;
      if ((r.op === ':?' && !envVars[r.name]) || (r.op === '?' && !isSet)) {
        const msg = interpolateString(braceBareVars(s), envVars).error ?? `variable ${r.name} is required`;
        throw new ConfigError(`${atKey(at)}: ${at.join('.')}: ${msg}`, `set ${r.name} in ${envFile} (compose refuses this file without it too), then import again`);
      }
    }
  }
  // `environment: [NAME]` (or NAME: with no value) passes NAME from .env as it is
  for (const def of Object.values(resolved)) {
    const env = isObject(def) ? def.environment : undefined;
    const bare = Array.isArray(env) ? env.map(String).filter((e) => !e.includes('=')) : isObject(env) ? Object.keys(env).filter((k) => env[k] === null || env[k] === undefined) : [];
    for (const n of bare) if (n in envVars && !refs.has(n)) refs.set(n, new Set(['']));
  }
  // An unset variable read plainly is "" to compose; where it is also read as ${V-x} (unset and "" differ), it stays unset as ${V:-}.
  const unsetBoth = new Set([...refs].filter(([n, ops]) => !(n in envVars) && ops.has('') && [...ops].some((o) => ['-', '+'].includes(o))).map(([n]) => n));
  const str = (v: unknown): string => {
    let s = braceBareVars(String(v));
    for (const n of unsetBoth) s = s.split(`\${${n}}`).join(`\${${n}:-}`);
    return s;
  };
  const deep = (v: unknown): unknown => (typeof v === 'string' ? str(v) : Array.isArray(v) ? v.map(deep) : isObject(v) ? Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('x-')).map(([k, x]) => [k, deep(x)])) : v);

  /** A path written relative to the compose file, rewritten relative to the stack file. */
  const relocate = (p: string): string => {
    if (!(p.startsWith('./') || p.startsWith('../') || p === '.' || p === '..')) return p;
    const rel = path.relative(outDir, path.resolve(composeDir, p));
    return rel === '' ? '.' : rel.startsWith('.') ? rel : path.isAbsolute(rel) ? rel : `./${rel}`;
  };
  const relocateFile = (p: string): string => (path.isAbsolute(p) || p.includes('$') || p.startsWith('~') ? p : relocate(p.startsWith('./') || p.startsWith('../') ? p : `./${p}`));

  const notes: string[] = [];
  const comments: { path: (string | number)[]; text: string }[] = [];
  const secrets = new Secrets(envVars);
  const services: Json = {};
  const roles: Record<string, { role: string; why: string }> = {};
  const ctx = { project, str, deep, relocate, relocateFile, atKey, secrets, envVars, notes, comments };
  // variables a bind mount's host path starts with: a relative value in .env is relative to the compose file
  const pathVars = new Set<string>();
  for (const [name, def] of Object.entries(resolved)) {
    if (!isObject(def)) throw new ConfigError(`${atKey(['services', name])}: services.${name}: not a mapping; valid: a service definition`);
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new ConfigError(`${atKey(['services', name])}: services.${name}: lifeops service names are lower-case letters, digits, "-" or "_", starting with a letter; rename it in the compose file first`);
    for (const v of Array.isArray(def.volumes) ? def.volumes : []) {
      const src = typeof v === 'string' ? v.split(':')[0] : isObject(v) && v.type === 'bind' ? String(v.source ?? '') : '';
      const m = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)/.exec(src);
      if (m) pathVars.add(m[1]);
    }
    const { out, role } = convertService(ctx, name, def);
    roles[name] = role;
    if (out.image === undefined) {
      out.image = `${project}-${name}`;
      comments.push({ path: ['services', name, 'image'], text: ' the image compose v2 builds for this service' });
    }
    // What compose does when the file says nothing, said out loud (lifeops' own defaults differ).
    if (out.restart === undefined) {
      out.restart = 'no';
      comments.push({ path: ['services', name, 'restart'], text: " compose's default; lifeops' own would be unless-stopped" });
    }
    if (out.networks === undefined && def.network_mode === undefined) out.networks = ['default'];
    services[name] = orderKeys(out);
  }
  hideSecretsInCommands(services, secrets, notes);
  // a redis-server given --requirepass: lifeops' redis: block, the password off the command line
  const redis = managedRedis({ atKey, secrets, notes, comments }, services);

  const stack: Json = { version: 1, name: stackName, project, default_environment: 'production', services };
  for (const top of ['networks', 'volumes'] as const) {
    if (isObject(raw[top])) stack[top] = Object.fromEntries(Object.entries(deep(raw[top]) as Json).map(([k, v]) => [k, v ?? {}]));
  }
  for (const top of ['secrets', 'configs'] as const) {
    if (!isObject(raw[top])) continue;
    stack[top] = Object.fromEntries(Object.entries(deep(raw[top]) as Json).map(([k, v]) => [k, isObject(v) && typeof v.file === 'string' ? { ...v, file: relocateFile(v.file) } : v]));
  }

  if (redis) stack.redis = redis;

  const env = envFileText({ plan: vars, secrets, refs, unsetBoth, pathVars, relocate, notes, envFile });
  if (env.derivedSecrets.length) stack.variables = { secrets: env.derivedSecrets };
  stack.environments = { production: { env_file: input.envFileName } };

  // yes, on, 0755, 0o755, 12:30 ... quoted: every YAML reader (1.1 and 1.2) reads back the same strings
  const out = quoteAmbiguous(new Document(stack));
  for (const c of comments) {
    const node = out.getIn(c.path, true) as Node | undefined;
    if (node && isScalar(node)) node.comment = c.text;
    else if (node && !isScalar(node)) {
      const parent = out.getIn(c.path.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === c.path[c.path.length - 1]);
        if (pair && isScalar(pair.key)) (pair.key as Node).commentBefore = c.text;
      }
    }
  }
  const from = [input.composeFile, ...(input.overrides ?? []).map((o) => o.file)].map((f) => path.basename(f)).join(' + ');
  out.commentBefore = ` Imported by lifeops from ${from}: one comment per guess. Secrets are in ${input.envFileName}.\n Check the roles; lifeops' own blocks (postgres:, redis:, front:, backup:) are yours to add.`;
  const where = (keyPath: (string | number)[]) => {
    for (const f of [...files].reverse()) if (f.doc.getIn(keyPath, true) !== undefined) return f.at(keyPath);
    return undefined;
  };
  return { stack: out.toString({ lineWidth: 0 }), env: env.text, notes, roles, secretVars: env.secretVars, where };
}

function definedOnly(env: Record<string, string | undefined> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
}

/** A literal secret seen in an environment value also hides in commands (redis-server --requirepass ...). */
function hideSecretsInCommands(services: Json, secrets: Secrets, notes: string[]): void {
  const literal = [...secrets.values].filter(([, v]) => v.length >= 6).sort((a, b) => b[1].length - a[1].length);
  const hide = (s: string) => literal.reduce((acc, [k, v]) => hideValue(acc, v, `\${${k}}`), s);
  for (const [name, svc] of Object.entries(services) as [string, Json][]) {
    for (const key of ['command', 'entrypoint'] as const) {
      const v = svc[key];
      const hidden = Array.isArray(v) ? v.map((x) => hide(String(x))) : typeof v === 'string' ? hide(v) : v;
      if (JSON.stringify(hidden) !== JSON.stringify(v)) {
        svc[key] = hidden;
        notes.push(`services.${name}.${key}: a secret value written in it is now a variable`);
      }
    }
    const hc = svc.healthcheck;
    if (isObject(hc) && hc.test !== undefined) hc.test = Array.isArray(hc.test) ? hc.test.map((x) => hide(String(x))) : hide(String(hc.test));
  }
}

/** where a password is given on a command line: after a password flag or option, or in a URL's user part */
const PASSWORD_CONTEXT = /(?:pass(?:word)?|requirepass|secret|token|auth|key)[\w-]*[\s=:]+['"]?$|(?:^|\s)-[ap]\s*['"]?$|:\/\/[^\s:@/]*:$/i;

/**
 * A secret's value replaced by its variable in a command. A value that is a
 * plain word ("postgres", "paperless": also a user, a database, a host name)
 * is replaced only where a password is given (`--requirepass WORD`, `-pWORD`,
 * `user:WORD@`); elsewhere (`pg_isready -U postgres`) it is that other thing.
 */
export function hideValue(text: string, value: string, variable: string): string {
  const plainWord = /^[A-Za-z]+$/.test(value);
  let out = '';
  let from = 0;
  for (let i = text.indexOf(value); i >= 0; i = text.indexOf(value, i + value.length)) {
    if (plainWord && !PASSWORD_CONTEXT.test(text.slice(0, i))) continue;
    out += text.slice(from, i) + variable;
    from = i + value.length;
  }
  return out + text.slice(from);
}
