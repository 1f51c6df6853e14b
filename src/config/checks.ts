// Checks across keys, run by the loader once the stack file has parsed: names
// that must point somewhere, roles that must agree with the blocks naming
// them, and anything that would otherwise render wrong without a word (an
// undeclared network, a block ignored because of a command, a service the
// monitoring override would replace, a template key no file has). Each
// problem is a ConfigError line `file:line:col: key.path: what; valid: ...`.
import { statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { StackFile } from './schema.js';
import { monitoringServiceNames } from './monitoring.js';
import { didYouMean } from './suggest.js';
import { locate, locateKey, sourcePath, keySourcePath, type Source } from './source.js';

type KeyPath = (string | number)[];

/** Networks every stack has: `default` (compose's own) and `backend` (internal, for the data stores). */
export const BUILTIN_NETWORKS = ['default', 'backend'] as const;

function problems(src: Source, envName: string) {
  const lines: string[] = [];
  return {
    lines,
    at(keyPath: KeyPath, text: string) {
      lines.push(`${src.file}:${locate(src, sourcePath(src, envName, keyPath))}: ${keyPath.join('.')}: ${text}`);
    },
    atKey(parent: KeyPath, key: string, text: string) {
      lines.push(`${src.file}:${locateKey(src, keySourcePath(src, envName, parent, key), key)}: ${[...parent, key].join('.')}: ${text}`);
    },
    throwIfAny(hint?: string) {
      if (lines.length) throw new ConfigError(lines.slice(0, 8).join('\n') + (lines.length > 8 ? `\n... and ${lines.length - 8} more problems` : ''), hint);
    },
  };
}

/**
 * Names that must point at a service: the front's own service, every domain's
 * (and path location's) upstream (an app service, or one the monitoring
 * override adds), the services the postgres/redis/pgbouncer blocks configure,
 * and every depends_on. A wrong name would otherwise render a route to
 * nowhere, or a block applied to nothing. Also promtail, which has nowhere to
 * ship without loki.
 */
export function checkReferences(src: Source, file: StackFile, envName: string): void {
  const services = Object.keys(file.services);
  const mon = file.monitoring?.enabled ? file.monitoring : undefined;
  const routable = [...services, ...(mon ? monitoringServiceNames(mon) : [])];
  // did-you-mean looks among the services of the right kind first (an upstream: not a datastore nor the front)
  const ofRole = (...roles: string[]) => services.filter((s) => roles.includes(file.services[s].role));
  const apps = [...services.filter((s) => !['postgres', 'redis', 'pgbouncer', 'front'].includes(file.services[s].role)), ...(mon ? monitoringServiceNames(mon) : [])];
  const refs: { keyPath: KeyPath; name: string; valid: string[]; prefer?: string[]; what: string; isKey?: boolean }[] = [];
  if (file.front) {
    refs.push({ keyPath: ['front', 'service'], name: file.front.service, valid: services, prefer: ofRole('front'), what: 'a service' });
    file.front.domains.forEach((d, i) => {
      refs.push({ keyPath: ['front', 'domains', i, 'upstream'], name: d.upstream, valid: routable, prefer: apps, what: 'a service the front can reach' });
      d.locations.forEach((l, j) => refs.push({ keyPath: ['front', 'domains', i, 'locations', j, 'upstream'], name: l.upstream, valid: routable, prefer: apps, what: 'a service the front can reach' }));
    });
  }
  if (file.postgres && !file.postgres.external_url) refs.push({ keyPath: ['postgres', 'service'], name: file.postgres.service, valid: services, prefer: ofRole('postgres'), what: 'a service (or set postgres.external_url)' });
  if (file.redis) refs.push({ keyPath: ['redis', 'service'], name: file.redis.service, valid: services, prefer: ofRole('redis'), what: 'a service' });
  if (file.pgbouncer) refs.push({ keyPath: ['pgbouncer', 'service'], name: file.pgbouncer.service, valid: services, prefer: ofRole('pgbouncer'), what: 'a service' });
  for (const [svc, def] of Object.entries(file.services)) {
    for (const dep of Object.keys(def.depends_on)) refs.push({ keyPath: ['services', svc, 'depends_on', dep], name: dep, valid: services, what: 'a service', isKey: true });
  }
  const lines = refs
    .filter((r) => !r.valid.includes(r.name))
    .map((r) => {
      const hint = (r.prefer?.length ? didYouMean(r.name, r.prefer) : undefined) ?? didYouMean(r.name, r.valid);
      const where = r.isKey ? locateKey(src, keySourcePath(src, envName, r.keyPath.slice(0, -1), r.name), r.name) : locate(src, sourcePath(src, envName, r.keyPath));
      return `${src.file}:${where}: ${r.keyPath.join('.')}: "${r.name}" is not ${r.what}${hint ? ` (did you mean "${hint}"?)` : ''}; valid: ${r.valid.join(', ')}`;
    });
  if (lines.length) throw new ConfigError(lines.join('\n'), 'name one of the services listed');
  if (mon?.exporters.includes('promtail') && !mon.exporters.includes('loki')) {
    const at = sourcePath(src, envName, ['monitoring', 'exporters']);
    throw new ConfigError(`${src.file}:${locate(src, at)}: monitoring.exporters: promtail ships logs to the loki exporter, which is not listed`, 'add loki to monitoring.exporters, or remove promtail');
  }
}

/** A shell-form command that is only plain words (no quotes, variables, globs or operators) as an exec array; undefined otherwise. */
export function plainWords(command: string): string[] | undefined {
  const trimmed = command.trim();
  if (!trimmed || !/^[A-Za-z0-9_.\/=:,@%+-]+(\s+[A-Za-z0-9_.\/=:,@%+-]+)*$/.test(trimmed)) return undefined;
  return trimmed.split(/\s+/);
}

interface RoleCommand {
  block: 'front' | 'postgres' | 'redis';
  program: string;
  /** flags the block sets itself: the command may not set them too */
  owned: (argv: string[]) => { flag: string; key: string } | undefined;
}

const REDIS_FLAGS: Record<string, string> = { '--save': 'save', '--appendonly': 'appendonly', '--maxmemory': 'maxmemory', '--maxmemory-policy': 'maxmemory_policy', '--requirepass': 'password' };

const ROLE_COMMANDS: RoleCommand[] = [
  {
    block: 'redis',
    program: 'redis-server',
    owned: (argv) => {
      if (argv[1] !== undefined && !argv[1].startsWith('-')) return { flag: argv[1], key: '(the rendered redis.conf)' };
      const f = argv.find((a) => a in REDIS_FLAGS);
      return f ? { flag: f, key: REDIS_FLAGS[f] } : undefined;
    },
  },
  {
    block: 'postgres',
    program: 'postgres',
    owned: (argv) => {
      for (let i = 1; i < argv.length; i++) {
        const v = argv[i] === '-c' ? argv[i + 1] ?? '' : argv[i].startsWith('-c') ? argv[i].slice(2) : argv[i].startsWith('--') ? argv[i].slice(2) : '';
        if (/^config[_-]file=/.test(v)) return { flag: `-c ${v}`, key: '(the rendered postgresql.conf)' };
      }
      return undefined;
    },
  },
  {
    block: 'front',
    program: 'nginx',
    owned: (argv) => (argv.includes('-c') ? { flag: '-c', key: '(the rendered nginx.conf)' } : undefined),
  },
];

/**
 * The service a postgres/redis/front block configures gets the rendered file
 * through its command (`redis-server <conf>`, `postgres -c config_file=...`,
 * `nginx -c ...`). A command of the stack's own that lifeops cannot extend
 * would leave the block silently unused, so: plain words are turned into an
 * exec array and extended; a shell command or another program is refused, and
 * so is a flag the block sets itself (the two would disagree unseen).
 */
function checkRoleCommands(p: ReturnType<typeof problems>, file: StackFile): void {
  for (const rc of ROLE_COMMANDS) {
    const block = file[rc.block];
    if (!block || (rc.block === 'postgres' && file.postgres?.external_url)) continue;
    if (rc.block === 'front' && file.front?.kind !== 'nginx') continue;
    const name = block.service;
    const svc = file.services[name];
    if (!svc || svc.command === undefined) continue;
    const keyPath = ['services', name, 'command'];
    const argv = typeof svc.command === 'string' ? plainWords(svc.command) : svc.command;
    if (!argv) {
      p.at(keyPath, `a shell command cannot take the ${rc.block}: block's rendered configuration, which would be ignored; valid: ${rc.program} and its flags, as an exec list or plain words`);
      continue;
    }
    if (path.posix.basename(argv[0] ?? '') !== rc.program) {
      p.at(keyPath, `runs "${argv[0] ?? ''}", not ${rc.program}, so the ${rc.block}: block (${rc.block}.service: ${name}) would be ignored; valid: a command starting with ${rc.program}, or no command`);
      continue;
    }
    const clash = rc.owned(argv);
    if (clash) {
      p.at(keyPath, `${clash.flag} is set by the ${rc.block}: block ${clash.key.startsWith('(') ? clash.key : `(${rc.block}.${clash.key})`}; valid: set it there, not in the command`);
      continue;
    }
    if (typeof svc.command === 'string') svc.command = argv;
  }
}

/** Rendered files a `templates:` key may name for this stack (those rendered from a template). */
export function templateKeys(file: StackFile): string[] {
  const keys = ['.env.example', 'Makefile'];
  if (Object.values(file.services).some((s) => s.gunicorn || s.role === 'web')) keys.push('logging.conf');
  if (file.front?.kind === 'nginx') keys.push('nginx/nginx.conf', ...file.front.domains.map((d) => `nginx/conf.d/${d.name}.conf`));
  if (file.front?.kind === 'traefik') keys.push('traefik/traefik.yml');
  if (file.postgres && !file.postgres.external_url) keys.push('postgres/postgresql.conf');
  if (file.pgbouncer) keys.push('pgbouncer/pgbouncer.ini');
  if (file.redis) keys.push('redis/redis.conf');
  for (const [name, s] of Object.entries(file.services)) if (s.gunicorn) keys.push(`gunicorn/${name}.conf.py`);
  return keys;
}

const slash = (p: string) => (p.endsWith('/') ? p : p + '/');

export function checkStack(src: Source, file: StackFile, envName: string, baseDir: string): void {
  const p = problems(src, envName);
  const services = Object.keys(file.services);

  // Networks: a service joins only networks that exist.
  const declared = Object.keys(file.networks);
  const validNets = [...new Set<string>([...BUILTIN_NETWORKS, ...declared])];
  for (const [name, svc] of Object.entries(file.services)) {
    (svc.networks ?? []).forEach((net, i) => {
      if (validNets.includes(net)) return;
      const hint = didYouMean(net, validNets);
      p.at(['services', name, 'networks', i], `"${net}" is not a declared network${hint ? ` (did you mean "${hint}"?)` : ''}; declared: ${declared.join(', ') || 'none'}; valid: ${validNets.join(', ')} (default and backend are built in), or declare it under the top-level networks:`);
    });
  }
  for (const [kind, map] of [['networks', file.networks], ['volumes', file.volumes]] as const) {
    for (const [key, def] of Object.entries(map)) {
      if (!def.external) continue;
      const extra = Object.keys(def).filter((k) => !['external', 'name'].includes(k) && (def as Record<string, unknown>)[k] !== undefined);
      if (extra.length) p.at([kind, key, extra[0]], `an external ${kind === 'networks' ? 'network' : 'volume'} is created elsewhere and takes only a name (found ${extra.join(', ')}); valid: external, name`);
    }
  }

  // A Postgres data directory copied as files while the server runs is not a
  // consistent backup, and restoring it under the dump's restore breaks the
  // database (seen: "could not open file base/..."). pg_dump covers it.
  const pgVolumes = new Map<string, string>();
  for (const [name, svc] of Object.entries(file.services)) {
    if (svc.role !== 'postgres') continue;
    for (const v of svc.volumes) {
      const source = v.split(':')[0];
      if (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source) && v.includes(':')) pgVolumes.set(source, name);
    }
  }
  (file.backup?.volumes ?? []).forEach((vol, i) => {
    const svc = pgVolumes.get(vol);
    if (svc) p.at(['backup', 'volumes', i], `"${vol}" is the data volume of the postgres service ${svc}; its data is backed up with pg_dump, and a file copy of a running database is not consistent; valid: volumes holding files (uploads, media), not a database's data directory`);
  });

  // Point-in-time recovery archives the WAL of the stack's own Postgres, on this host's engine.
  if (file.backup?.pitr?.enabled) {
    const at = ['backup', 'pitr', 'enabled'];
    if (!file.postgres || file.postgres.external_url) p.at(at, 'point-in-time recovery archives the WAL of the stack\'s own Postgres service; this stack has no postgres: block with a service (or its database is external); valid: false, or a postgres: block naming a service');
    else if ((file.target ?? 'compose') !== 'compose') p.at(at, 'point-in-time recovery runs on the compose target only (the archive is a volume beside the database on this host); valid: false for a swarm environment');
    for (const key of ['archive_mode', 'archive_command', 'archive_library', 'archive_timeout', 'restore_command', 'wal_level']) {
      if (file.postgres?.tuning && key in file.postgres.tuning) p.at(['postgres', 'tuning', key], `backup.pitr sets ${key} itself; valid: remove it from postgres.tuning (backup.pitr.archive_timeout sets the timeout)`);
    }
  }

  // The swarm: block configures a swarm environment: on compose it would do nothing, silently.
  if (file.swarm && (file.target ?? 'compose') !== 'swarm') {
    p.at(['swarm'], 'the swarm: block configures an environment with target: swarm, and this one runs on compose; valid: target: swarm beside it, or no swarm: block');
  }

  // ACME certificates live in this host's state dir, bind-mounted into the compose front.
  if (file.front?.tls.acme && (file.target ?? 'compose') !== 'compose') {
    p.at(['front', 'tls', 'acme'], "lifeops obtains certificates for the compose target's nginx front only (they live in this host's state dir, which a swarm front on a node of its own cannot mount); valid: no acme: block in a swarm environment");
  }

  // Blocks that configure a service: its role must agree, and one service per block.
  const blocks: { key: 'front' | 'postgres' | 'redis' | 'pgbouncer'; service?: string }[] = [
    { key: 'front', service: file.front?.service },
    { key: 'postgres', service: file.postgres && !file.postgres.external_url ? file.postgres.service : undefined },
    { key: 'redis', service: file.redis?.service },
    { key: 'pgbouncer', service: file.pgbouncer?.service },
  ];
  const claimed = new Map<string, string>();
  for (const b of blocks) {
    if (!b.service || !file.services[b.service]) continue;
    const role = file.services[b.service].role;
    const fitting = services.filter((s) => file.services[s].role === b.key);
    if (role !== b.key && role !== 'other') {
      p.at([b.key, 'service'], `"${b.service}" is a ${role} service (services.${b.service}.role: ${role}); the ${b.key}: block would replace its command and mounts; valid: a service with role ${b.key}${fitting.length ? ` (${fitting.join(', ')})` : ''}`);
    }
    const other = claimed.get(b.service);
    if (other) p.at([b.key, 'service'], `"${b.service}" is already configured by the ${other}: block; valid: one block per service`);
    claimed.set(b.service, b.key);
  }
  if (file.front?.kind === 'nginx') {
    // nginx proxying to itself loops (Traefik may route to its own dashboard).
    file.front.domains.forEach((d, i) => {
      if (d.upstream === file.front!.service) p.at(['front', 'domains', i, 'upstream'], `"${d.upstream}" is the nginx front itself (front.service); valid: an app service`);
    });
  }

  // Names the monitoring override takes: a service of the stack named so would be replaced by it.
  const mon = file.monitoring?.enabled ? file.monitoring : undefined;
  if (mon) {
    const reserved = monitoringServiceNames(mon);
    for (const name of services) {
      if (reserved.includes(name)) {
        p.atKey(['services'], name, `the monitoring override adds a service of this name and would replace this one; reserved while monitoring is on: ${reserved.join(', ')}; valid: another name, or turn that part of monitoring off`);
      }
    }
  }

  checkRoleCommands(p, file);

  // Two services publishing one host port: the second `up` would fail to bind it.
  // Keyed by "PORT/PROTO", then address; 0.0.0.0 takes the port on every address.
  const published = new Map<string, Map<string, { svc: string; i: number }>>();
  for (const [name, svc] of Object.entries(file.services)) {
    svc.ports.forEach((spec, i) => {
      for (const { ip, port } of hostPorts(spec)) {
        const byIp = published.get(port) ?? new Map<string, { svc: string; i: number }>();
        published.set(port, byIp);
        const first = byIp.get(ip) ?? byIp.get('0.0.0.0') ?? (ip === '0.0.0.0' ? byIp.values().next().value : undefined);
        if (first && first.svc !== name) {
          const firstAt = `${src.file}:${locate(src, sourcePath(src, envName, ['services', first.svc, 'ports', first.i]))}`;
          p.at(['services', name, 'ports', i], `host port ${ip}:${port} is already published by services.${first.svc}.ports.${first.i} (${firstAt}); valid: a host port no other service publishes on that address`);
          return;
        }
        if (!byIp.has(ip)) byIp.set(ip, { svc: name, i });
      }
    });
  }

  // templates: keys are rendered files of this stack; the files stay in the stack's folder.
  const keys = templateKeys(file);
  for (const [key, tmpl] of Object.entries(file.templates)) {
    if (!keys.includes(key)) {
      const hint = didYouMean(key, keys);
      p.atKey(['templates'], key, `unknown key: this stack renders no such file from a template${hint ? ` (did you mean "${hint}"?)` : ''}; valid keys: ${keys.join(', ')}`);
      continue;
    }
    const rel = path.relative(baseDir, path.resolve(baseDir, tmpl));
    if (path.isAbsolute(tmpl) || rel.startsWith('..') || path.isAbsolute(rel)) {
      p.at(['templates', key], `${tmpl} is outside the stack file's folder; valid: a template file inside ${baseDir}`);
    }
  }

  // Path locations on a domain: distinct from each other and from the paths the front already routes.
  file.front?.domains.forEach((d, i) => {
    const taken = new Map<string, string>([['/', 'the domain\'s own location /']]);
    if (d.api_prefix) taken.set(slash(d.api_prefix), 'api_prefix');
    if (d.static) taken.set(slash(d.static.location), 'static.location');
    d.locations.forEach((l, j) => {
      const keyPath = ['front', 'domains', i, 'locations', j, 'path'];
      if (d.health === 'front' && (l.path === '/health' || l.path === '/health/')) {
        p.at(keyPath, `${l.path} is answered by the front itself; valid: another path, or health: upstream on the domain`);
        return;
      }
      const prior = taken.get(slash(l.path));
      if (prior) p.at(keyPath, `${l.path} is already routed (${prior}); valid: a path no other location of ${d.name} has`);
      taken.set(slash(l.path), `locations.${j}.path`);
    });
  });

  p.throwIfAny('see `lifeops schema` for every valid key');
}

/**
 * Services' env_file paths are relative to the stack file's folder, as in a
 * compose file beside it. A missing file is an error unless it is marked
 * `required: false`, in which case it is left out (compose would skip it).
 * Entries are rewritten to plain paths.
 */
export function resolveServiceEnvFiles(src: Source, file: StackFile, envName: string, baseDir: string): void {
  const p = problems(src, envName);
  for (const [name, svc] of Object.entries(file.services)) {
    const kept: string[] = [];
    svc.env_file.forEach((entry, i) => {
      const spec = typeof entry === 'string' ? { path: entry, required: true } : entry;
      const abs = path.resolve(baseDir, spec.path);
      let ok = false;
      try {
        ok = statSync(abs).isFile();
      } catch {
        ok = false;
      }
      if (ok) kept.push(spec.path);
      else if (spec.required) {
        const keyPath = ['services', name, 'env_file', i];
        p.at(keyPath, `${spec.path} does not exist (looked for ${abs}); valid: a file relative to the stack file's folder, or { path: ${spec.path}, required: false }`);
      }
    });
    svc.env_file = kept;
  }
  p.throwIfAny('env_file paths are relative to the stack file\'s folder');
}

/** The host address and "PORT/PROTO" of each host port a compose short-syntax mapping publishes (none for a container-only or any-free-port mapping). */
export function hostPorts(spec: string): { ip: string; port: string }[] {
  const proto = /\/(udp|tcp)$/.exec(spec)?.[1] ?? 'tcp';
  const parts = spec.replace(/\/(tcp|udp)$/, '').split(':');
  if (parts.length < 2) return [];
  const ip = parts.length === 3 ? parts[0] : '0.0.0.0';
  const host = parts[parts.length - 2];
  if (!host) return [];
  const [lo, hi] = host.split('-').map(Number);
  const out: { ip: string; port: string }[] = [];
  for (let port = lo; port <= (hi ?? lo) && out.length < 65536; port++) out.push({ ip, port: `${port}/${proto}` });
  return out;
}
