// `lifeops import`: a stack file from an existing compose setup. Pure: the
// compose file's text (and its --env-file's) in, the stack file's text and a
// generated env file out; the CLI handler reads and writes the files.
//
// What it does, service by service: the keys lifeops has its own form for
// (environment, ports, volumes, networks, depends_on, healthcheck, labels,
// build, resources) are rewritten into that form, every other compose key
// passes through as written (the Compose Specification is the stack file's
// floor). A role is guessed from the image and command, with a YAML comment
// saying why. Literal secrets (values of *PASSWORD*, *SECRET*, *TOKEN*, *KEY*
// variables, the password inside a URL such as DATABASE_URL) become ${VARS}
// whose values go to the generated env file only. The stack renders back to an
// equivalent compose file: image, command, environment, volumes, healthcheck,
// ports, networks and restart as compose read them.
import path from 'node:path';
import { Document, isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseEnvText } from '../config/envfile.js';
import { isSecretName } from '../util/redact.js';
import { quoteAmbiguous } from '../config/yaml-safe.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ImportInput {
  /** the compose file's text and path (relative paths in it are relative to its folder) */
  composeText: string;
  composeFile: string;
  /** KEY=VALUE text of --env-file (default: the .env beside the compose file, as compose reads it) */
  envText?: string;
  /** where the stack file will be written (relative paths are rewritten against its folder) */
  outFile: string;
  /** the env file the stack will read (its path relative to the stack file) */
  envFileName: string;
  /** compose project name (default: compose's: `name:` of the file, else its folder's name) */
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
}

/** Compose's project name rule: lower-case, only a-z 0-9 _ -, starting with a letter or digit. */
export function composeProjectName(raw: string): string {
  return raw.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}

// -- role guesses ----------------------------------------------------------------

const argvOf = (command: unknown): string => (Array.isArray(command) ? command.map(String).join(' ') : typeof command === 'string' ? command : '');

/** The role a service most likely plays, and why (shown as a comment). */
export function guessRole(name: string, svc: Json): { role: string; why: string } {
  const image = typeof svc.image === 'string' ? svc.image : '';
  const repo = image.replace(/@.*$/, '').replace(/:[^/]*$/, '').split('/').pop() ?? '';
  const cmd = `${argvOf(svc.entrypoint)} ${argvOf(svc.command)}`.trim();
  if (/^(postgres|postgis|timescaledb(-ha)?|pgvector)$/.test(repo)) return { role: 'postgres', why: `image ${image}` };
  if (/^(redis|redis-stack-server|valkey|keydb)$/.test(repo)) return { role: 'redis', why: `image ${image}` };
  if (/\b(redis-server|valkey-server)\b/.test(cmd)) return { role: 'redis', why: `command runs ${/valkey/.test(cmd) ? 'valkey-server' : 'redis-server'}` };
  if (/\bcelery\b.*\b(worker|beat)\b/.test(cmd)) return { role: 'worker', why: `command runs celery ${/\bbeat\b/.test(cmd) ? 'beat' : 'worker'}` };
  if (/\b(sidekiq|rq worker|rqworker|dramatiq|huey|arq|bull|resque)\b/.test(cmd)) return { role: 'worker', why: `command runs ${/\b(sidekiq|rq worker|rqworker|dramatiq|huey|arq|bull|resque)\b/.exec(cmd)![1]}` };
  if (/\b(gunicorn|uvicorn|daphne|hypercorn|puma|unicorn)\b/.test(cmd)) return { role: 'web', why: `command runs ${/\b(gunicorn|uvicorn|daphne|hypercorn|puma|unicorn)\b/.exec(cmd)![1]}` };
  if (/\brails (s|server)\b/.test(cmd)) return { role: 'web', why: 'command runs rails server' };
  if (/^(nginx|openresty|caddy|traefik|haproxy)$/.test(repo)) return { role: 'other', why: `image ${image} is a proxy with its own configuration, kept as it is (a front: block would render lifeops' own)` };
  if (/worker/i.test(name) || /\bworker\b/.test(cmd)) return { role: 'worker', why: `${/worker/i.test(name) ? 'service name' : 'command'} says worker` };
  return { role: 'other', why: 'nothing in the image or command says more' };
}

// -- values ------------------------------------------------------------------------

/** compose's bare `$VAR` as `${VAR}` (lifeops interpolates only the braced form); `$$` stays. */
function braceVars(s: string): string {
  return s.replace(/\$(\$|\{|[A-Za-z_][A-Za-z0-9_]*)/g, (m, g: string) => (g === '$' || g === '{' ? m : `\${${g}}`));
}

/** Names referenced by ${VAR...} in a string. */
function refs(s: string): { name: string; hasDefault: boolean }[] {
  // ${VAR:-x} and ${VAR-x} need no value: compose (and lifeops) use the default
  return [...s.replace(/\$\$/g, '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)?/g)].map((m) => ({ name: m[1], hasDefault: Boolean(m[2]) }));
}

/** "1m30s" (compose) as lifeops' single-unit duration. */
export function duration(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  if (/^\d+(ms|s|m|h|d)$/.test(s)) return s;
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g;
  let matched = '';
  for (const m of s.matchAll(re)) {
    matched += m[0];
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600000 : m[2] === 'm' ? n * 60000 : m[2] === 's' ? n * 1000 : m[2] === 'ms' ? n : m[2] === 'us' ? n / 1000 : n / 1e6;
  }
  if (matched !== s) return s;
  return total % 1000 === 0 ? `${total / 1000}s` : `${Math.round(total)}ms`;
}

class Secrets {
  readonly values = new Map<string, string>();
  /** a variable for a literal secret value: the key's own name when free, else prefixed by the service */
  varFor(preferred: string, service: string, value: string): string {
    for (const [name, v] of this.values) if (v === value) return name;
    let name = preferred.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
    if (this.values.has(name)) name = `${service.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}_${name}`;
    let n = 2;
    const base = name;
    while (this.values.has(name)) name = `${base}_${n++}`;
    this.values.set(name, value);
    return name;
  }
}

/** A URL's password (scheme://user:PASSWORD@host) as a variable; other values unchanged. */
function urlPassword(key: string, service: string, value: string, secrets: Secrets, vars: Record<string, string>): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]+)(@.*)$/i.exec(value);
  if (!m || m[2].includes('${')) return value;
  const raw = m[2];
  let pw = raw;
  try {
    pw = decodeURIComponent(raw);
  } catch {
    pw = raw;
  }
  // the same password under a variable already known (POSTGRES_PASSWORD) is that variable
  const known = Object.entries(vars).find(([k, v]) => isSecretName(k) && v === pw && encodeURIComponent(v) === raw)?.[0];
  const name = known ?? secrets.varFor(`${key.replace(/_URL$|_URI$|_DSN$/, '')}_PASSWORD`, service, raw);
  return `${m[1]}\${${name}}${m[3]}`;
}

// -- the importer --------------------------------------------------------------

export function importCompose(input: ImportInput): ImportResult {
  const composeDir = path.dirname(path.resolve(input.composeFile));
  const outDir = path.dirname(path.resolve(input.outFile));
  const lines = new LineCounter();
  const doc = parseDocument(input.composeText, { merge: true, uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  /** file:line:col of an offset in the compose file */
  const at = (offset = 0) => {
    const p = lines.linePos(offset);
    return `${input.composeFile}:${p.line}:${p.col}`;
  };
  /** where a key sits: the key path's last key, else its nearest ancestor */
  const atKey = (keyPath: string[]) => {
    for (let n = keyPath.length; n > 0; n--) {
      const parent = n > 1 ? doc.getIn(keyPath.slice(0, n - 1), true) : doc.contents;
      if (!isMap(parent)) continue;
      const pair = parent.items.find((i) => isScalar(i.key) && i.key.value === keyPath[n - 1]);
      if (pair && isScalar(pair.key)) return at(pair.key.range?.[0]);
    }
    return at(0);
  };
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new ConfigError(`${at(e.pos[0])}: not a YAML file compose can read: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '')}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (e) {
    throw new ConfigError(`${at(0)}: (top level): its aliases cannot be read: ${(e as Error).message.split('\n')[0]}; valid: aliases after their &anchor, at most 1000 expansions`);
  }
  if (!isObject(raw) || !isObject(raw.services)) throw new ConfigError(`${isObject(raw) && 'services' in raw ? atKey(['services']) : at(0)}: services: no services mapping; valid: a compose file with services`);
  const envVars = input.envText !== undefined ? parseEnvText(input.envText) : {};
  const project = composeProjectName(input.project ?? (typeof raw.name === 'string' ? raw.name : path.basename(composeDir)));
  if (!project) throw new ConfigError(`${input.composeFile}: cannot make a compose project name from it; pass --project NAME`);
  const stackName = /^[a-z]/.test(project) ? project.replace(/[^a-z0-9_-]/g, '-') : `app-${project}`;
  const notes: string[] = [];
  const secrets = new Secrets();
  const usedVars = new Set<string>();
  const defaultedVars = new Set<string>();
  const comments: { path: (string | number)[]; text: string }[] = [];

  /** A path written relative to the compose file, rewritten relative to the stack file. */
  const relocate = (p: string): string => {
    if (!(p.startsWith('./') || p.startsWith('../') || p === '.' || p === '..')) return p;
    const rel = path.relative(outDir, path.resolve(composeDir, p));
    return rel === '' ? '.' : rel.startsWith('.') ? rel : `./${rel}`;
  };
  const relocateFile = (p: string): string => (path.isAbsolute(p) || p.includes('$') || p.startsWith('~') ? p : relocate(p.startsWith('./') || p.startsWith('../') ? p : `./${p}`));

  /** Strings: bare $VAR braced, referenced variables noted. */
  const str = (v: unknown): string => {
    const s = braceVars(String(v));
    for (const r of refs(s)) {
      if (!r.hasDefault) usedVars.add(r.name);
      else if (!usedVars.has(r.name)) defaultedVars.add(r.name);
    }
    return s;
  };
  const deep = (v: unknown): unknown => (typeof v === 'string' ? str(v) : Array.isArray(v) ? v.map(deep) : isObject(v) ? Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('x-')).map(([k, x]) => [k, deep(x)])) : v);

  const services: Json = {};
  const roles: Record<string, { role: string; why: string }> = {};
  for (const [name, def] of Object.entries(raw.services)) {
    if (!isObject(def)) throw new ConfigError(`${atKey(['services', name])}: services.${name}: not a mapping; valid: a service definition`);
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new ConfigError(`${atKey(['services', name])}: services.${name}: lifeops service names are lower-case letters, digits, "-" or "_", starting with a letter; rename it in the compose file first`);
    const out: Json = {};
    const guess = guessRole(name, def);
    roles[name] = guess;
    out.role = guess.role;
    comments.push({ path: ['services', name, 'role'], text: ` guessed: ${guess.why}` });
    for (const [key, value] of Object.entries(def)) {
      if (key.startsWith('x-')) continue;
      const at = `services.${name}.${key}`;
      switch (key) {
        case 'image':
          out.image = str(value);
          break;
        case 'build': {
          if (typeof value === 'string') out.build = { context: relocate(value.startsWith('.') || value.startsWith('/') ? value : `./${value}`) };
          else if (isObject(value)) {
            const b: Json = { context: relocate(String(value.context ?? '.')) };
            if (value.dockerfile !== undefined) b.dockerfile = String(value.dockerfile);
            if (value.args !== undefined) b.args = Array.isArray(value.args) ? Object.fromEntries(value.args.map((a) => String(a).split(/=(.*)/s).slice(0, 2))) : Object.fromEntries(Object.entries(value.args as Json).map(([k, v]) => [k, String(v ?? '')]));
            const dropped = Object.keys(value).filter((k) => !['context', 'dockerfile', 'args'].includes(k));
            if (dropped.length) notes.push(`${at}: ${dropped.join(', ')} left out (lifeops builds with context, dockerfile and args)`);
            if (dropped.length) comments.push({ path: ['services', name, 'build'], text: ` left out: ${dropped.join(', ')} (lifeops builds with context, dockerfile and args)` });
            out.build = b;
          }
          break;
        }
        case 'command':
        case 'entrypoint':
          out[key] = Array.isArray(value) ? value.map(str) : str(value);
          break;
        case 'environment': {
          const env: Json = {};
          const entries: [string, unknown][] = Array.isArray(value)
            ? value.map((e) => {
                const [k, ...rest] = String(e).split('=');
                return [k, rest.length ? rest.join('=') : null] as [string, unknown];
              })
            : Object.entries(value as Json);
          for (const [k, v] of entries) {
            if (v === null || v === undefined) {
              // compose passes the variable from its own environment
              env[k] = `\${${k}}`;
              usedVars.add(k);
              continue;
            }
            if (typeof v === 'number' || typeof v === 'boolean') {
              env[k] = v;
              continue;
            }
            let s = str(v);
            if (isSecretName(k) && s !== '' && !/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(s) && !s.includes('${')) {
              const varName = secrets.varFor(k, name, s.replace(/\$\$/g, '$'));
              s = `\${${varName}}`;
            } else s = urlPassword(k, name, s, secrets, { ...envVars, ...Object.fromEntries(secrets.values) });
            env[k] = s;
          }
          out.environment = env;
          break;
        }
        case 'env_file': {
          const list = Array.isArray(value) ? value : [value];
          out.env_file = list.map((f) => (isObject(f) ? { path: relocateFile(String(f.path)), required: f.required !== false } : relocateFile(String(f))));
          break;
        }
        case 'ports':
          out.ports = (value as unknown[]).map((p) => portString(p, at));
          break;
        case 'expose':
          out.expose = (value as unknown[]).map((p) => Number(String(p).replace(/\/.*$/, '')));
          break;
        case 'volumes': {
          const vols: string[] = [];
          const tmpfs: string[] = [];
          for (const v of value as unknown[]) {
            if (typeof v === 'string') {
              const [src, ...rest] = v.split(':');
              vols.push(rest.length ? [relocate(src), ...rest].join(':') : v);
            } else if (isObject(v)) {
              if (v.type === 'tmpfs') {
                tmpfs.push(String(v.target));
                continue;
              }
              const mode = v.read_only ? ':ro' : '';
              const src = v.source === undefined ? '' : v.type === 'bind' ? relocate(String(v.source)) : String(v.source);
              vols.push(src ? `${src}:${v.target}${mode}` : String(v.target));
              const extra = Object.keys(v).filter((k) => !['type', 'source', 'target', 'read_only'].includes(k));
              if (extra.length) notes.push(`${at}: ${extra.join(', ')} of a long-syntax volume left out`);
            }
          }
          out.volumes = vols;
          if (tmpfs.length) out.tmpfs = [...(Array.isArray(def.tmpfs) ? def.tmpfs : def.tmpfs ? [def.tmpfs] : []), ...tmpfs];
          break;
        }
        case 'networks':
          if (Array.isArray(value)) out.networks = value.map(String);
          else if (isObject(value)) {
            out.networks = Object.keys(value);
            const withOptions = Object.entries(value).filter(([, o]) => isObject(o) && Object.keys(o).length).map(([n]) => n);
            if (withOptions.length) {
              notes.push(`${at}: options of ${withOptions.join(', ')} (aliases, addresses) left out`);
              comments.push({ path: ['services', name, 'networks'], text: ` left out: options (aliases, addresses) of ${withOptions.join(', ')}` });
            }
          }
          break;
        case 'depends_on':
          out.depends_on = Array.isArray(value)
            ? Object.fromEntries(value.map((d) => [String(d), 'started']))
            : Object.fromEntries(Object.entries(value as Json).map(([d, o]) => [d, conditionOf(isObject(o) ? o.condition : undefined)]));
          break;
        case 'healthcheck': {
          const hc = value as Json;
          if (hc.disable === true) out.healthcheck = { test: ['NONE'] };
          else if (hc.test !== undefined) {
            const h: Json = { test: Array.isArray(hc.test) ? hc.test.map(str) : str(hc.test) };
            for (const k of ['interval', 'timeout', 'start_period'] as const) if (hc[k] !== undefined) h[k] = duration(hc[k]);
            if (hc.retries !== undefined) h.retries = Number(hc.retries);
            out.healthcheck = h;
            if (hc.start_interval !== undefined) comments.push({ path: ['services', name, 'healthcheck'], text: ' left out: start_interval (lifeops writes interval, timeout, retries, start_period)' });
          }
          break;
        }
        case 'labels':
          out.labels = Array.isArray(value) ? Object.fromEntries(value.map((l) => String(l).split(/=(.*)/s).slice(0, 2).map((x) => x ?? ''))) : Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, String(v ?? '')]));
          break;
        case 'restart':
          out.restart = String(value);
          break;
        case 'logging': {
          const l = value as Json;
          const o = isObject(l.options) ? l.options : {};
          if ((l.driver ?? 'json-file') === 'json-file') out.logging = { max_size: String(o['max-size'] ?? '10m'), max_file: Number(o['max-file'] ?? 3) };
          else comments.push({ path: ['services', name, 'role'], text: ` guessed: ${guess.why}; logging driver ${String(l.driver)} left out (lifeops writes json-file with rotation)` });
          break;
        }
        case 'mem_limit':
        case 'cpus':
        case 'mem_reservation': {
          const kind = key === 'mem_reservation' ? 'reservations' : 'limits';
          const res = (out.resources ??= {}) as Json;
          const set = (res[kind] ??= {}) as Json;
          if (key === 'cpus') set.cpus = Number(value);
          else set.memory = memory(value);
          break;
        }
        case 'scale':
          out.replicas = Number(value);
          break;
        case 'deploy': {
          const d = { ...(value as Json) };
          if (d.replicas !== undefined) out.replicas = Number(d.replicas);
          delete d.replicas;
          if (isObject(d.resources)) {
            const res = (out.resources ??= {}) as Json;
            for (const kind of ['limits', 'reservations'] as const) {
              const r = (d.resources as Json)[kind];
              if (!isObject(r)) continue;
              const set = (res[kind] ??= {}) as Json;
              if (r.cpus !== undefined) set.cpus = Number(r.cpus);
              if (r.memory !== undefined) set.memory = memory(r.memory);
            }
            delete d.resources;
          }
          if (Object.keys(d).length) out.deploy = deep(d);
          break;
        }
        case 'container_name':
          if (guess.role === 'web') {
            notes.push(`${at}: left out (a web service is rolled with a second container beside the first)`);
            comments.push({ path: ['services', name, 'role'], text: ` guessed: ${guess.why}; container_name ${String(value)} left out (rolling needs two containers)` });
          } else out.container_name = str(value);
          break;
        default:
          out[key] = deep(value);
      }
    }
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

  // A literal secret seen in an environment value also hides in commands (redis-server --requirepass ...).
  const literal = [...secrets.values].filter(([, v]) => v.length >= 6).sort((a, b) => b[1].length - a[1].length);
  const hide = (s: string) => literal.reduce((acc, [k, v]) => acc.split(v).join(`\${${k}}`), s);
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

  const stack: Json = { version: 1, name: stackName, project, default_environment: 'production', services };
  if (isObject(raw.networks)) {
    const nets = deep(raw.networks) as Json;
    stack.networks = Object.fromEntries(Object.entries(nets).map(([k, v]) => [k, v ?? {}]));
  }
  if (isObject(raw.volumes)) {
    const vols = deep(raw.volumes) as Json;
    stack.volumes = Object.fromEntries(Object.entries(vols).map(([k, v]) => [k, v ?? {}]));
  }
  for (const top of ['secrets', 'configs'] as const) {
    if (!isObject(raw[top])) continue;
    stack[top] = Object.fromEntries(Object.entries(deep(raw[top]) as Json).map(([k, v]) => [k, isObject(v) && typeof v.file === 'string' ? { ...v, file: relocateFile(v.file) } : v]));
  }
  stack.environments = { production: { env_file: input.envFileName } };

  // The env file: literal secrets taken out of the compose file, then every
  // variable the compose file reads from its environment (values from
  // --env-file; an unset one is written empty, as compose would read it).
  const envLines: string[] = ['# Written by lifeops import. Holds secrets: keep it out of version control.'];
  const secretVars = [...secrets.values.keys()];
  for (const [k, v] of secrets.values) envLines.push(`${k}=${envQuote(v)}`);
  const missing: string[] = [];
  for (const k of [...new Set([...usedVars, ...defaultedVars])].sort()) {
    if (secrets.values.has(k)) continue;
    if (!usedVars.has(k) && !(k in envVars)) continue;
    if (k in envVars) envLines.push(`${k}=${envQuote(envVars[k])}`);
    else {
      envLines.push(`${k}=`);
      missing.push(k);
    }
    if (isSecretName(k)) secretVars.push(k);
  }
  if (missing.length) notes.push(`not set in the env file given: ${missing.join(', ')} (written empty, as compose reads an unset variable)`);

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
  out.commentBefore = ` Imported by lifeops from ${path.basename(input.composeFile)}: one comment per guess. Secrets are in ${input.envFileName}.\n Check the roles; lifeops' own blocks (postgres:, redis:, front:, backup:) are yours to add.`;
  return { stack: out.toString({ lineWidth: 0 }), env: envLines.join('\n') + '\n', notes, roles, secretVars: secretVars.sort() };
}

function conditionOf(c: unknown): string {
  if (c === 'service_healthy') return 'healthy';
  if (c === 'service_completed_successfully') return 'completed';
  return 'started';
}

/** compose memory ("512m", "1g", 536870912) as a lifeops size ("512M"). */
function memory(v: unknown): string {
  if (typeof v === 'number') return `${Math.max(1, Math.round(v / 1024))}k`;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg])?b?$/i.exec(String(v).trim());
  if (!m) return String(v);
  const unit = (m[2] ?? 'b').toLowerCase();
  return unit === 'b' ? `${Math.max(1, Math.round(Number(m[1]) / 1024))}k` : `${m[1]}${unit.toUpperCase()}`;
}

/** A compose port (short string, number or long syntax) as the short string. */
function portString(p: unknown, at: string): string {
  if (typeof p === 'number') return String(p);
  if (typeof p === 'string') return p;
  if (isObject(p)) {
    const proto = p.protocol && p.protocol !== 'tcp' ? `/${p.protocol}` : '';
    const host = p.published !== undefined ? String(p.published) : '';
    const ip = p.host_ip ? `${p.host_ip}:` : '';
    return host || ip ? `${ip}${host}:${p.target}${proto}` : `${p.target}${proto}`;
  }
  throw new ConfigError(`${at}: cannot read port ${JSON.stringify(p)}`);
}

/** A value as the env file reader (config/envfile.ts) and compose read it back. */
function envQuote(v: string): string {
  if (/^[A-Za-z0-9_./:@%+,-]*$/.test(v)) return v;
  if (!v.includes("'") && !v.includes('\n')) return `'${v}'`;
  return `"${v.replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

const ORDER = ['role', 'image', 'build', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'expose', 'volumes', 'networks', 'depends_on', 'healthcheck', 'restart'];
function orderKeys(o: Json): Json {
  const keys = Object.keys(o).sort((a, b) => (ORDER.indexOf(a) < 0 ? 99 : ORDER.indexOf(a)) - (ORDER.indexOf(b) < 0 ? 99 : ORDER.indexOf(b)));
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
