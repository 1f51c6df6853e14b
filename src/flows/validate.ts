// `lifeops validate`: render a stack into a temporary folder and run every
// real validator present on this machine over the files, one result per file.
// A validator that is not installed is reported as SKIPPED, never as OK.
// Containers run with --network none and are removed by id; nothing is
// published, nothing is reached over the network. A flow like the others: it
// renders (flows/render.ts), writes a folder and runs validators through clients.
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, existsSync, rmSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectCompose } from '../clients/compose-detect.js';
import type { Effects } from './effects.js';
import { ValidatorTools, lastLines } from './validate-tools.js';
import type { Stack } from '../config/schema.js';
import { renderStack, writeRendered } from './render.js';
import { composeFiles, type RenderedFile } from '../render/index.js';
import { NGINX_CONF, NGINX_CONF_DIR } from '../render/extras.js';
import { POSTGRES_CONF, REDIS_CONF, PGBOUNCER_DIR } from '../render/datastores.js';
import { GUNICORN_CONF, GUNICORN_LOGGING_CONF } from '../render/gunicorn.js';

export type CheckStatus = 'OK' | 'FAIL' | 'SKIPPED';

export interface CheckResult {
  file: string;
  validator: string;
  status: CheckStatus;
  /** why it failed or was skipped, or a note on how it was checked */
  detail?: string;
  ms: number;
}

export interface ValidateOptions {
  /** the port the validators run through (reads; the throwaway containers are changes) */
  effects: Effects;
  /** keep the rendered folder (default: removed) */
  keep?: boolean;
  /** allow validators that start containers (default true) */
  docker?: boolean;
}

export interface ValidateReport {
  stack: string;
  env: string;
  dir: string;
  ok: boolean;
  results: CheckResult[];
}

function timed(file: string, validator: string, fn: () => Promise<Omit<CheckResult, 'file' | 'validator' | 'ms'> & { validator?: string }>): Promise<CheckResult> {
  const t0 = Date.now();
  return fn()
    .then((r) => ({ file, validator: r.validator ?? validator, status: r.status, detail: r.detail, ms: Date.now() - t0 }))
    .catch((e: Error) => ({ file, validator, status: 'FAIL' as const, detail: `validator crashed: ${e.message}`, ms: Date.now() - t0 }));
}

const skip = (what: string) => ({ status: 'SKIPPED' as const, detail: `validator not installed: ${what}` });

// --- compose ---------------------------------------------------------------

async function checkCompose(t: ValidatorTools, stack: Stack, dir: string, files: string[]): Promise<CheckResult[]> {
  const t0 = Date.now();
  let cli;
  try {
    cli = await detectCompose();
  } catch {
    return files.map((f) => ({ file: f, validator: 'docker compose config', status: 'SKIPPED' as const, detail: 'validator not installed: docker compose / docker-compose', ms: 0 }));
  }
  const validator = `${cli.argv.join(' ')} config -q`;
  const args = [...cli.argv.slice(1), '-p', stack.project, ...files.flatMap((f) => ['-f', path.join(dir, f)]), 'config', '-q'];
  // A variable the operator sets at deploy time (e.g. htpasswd users) may be unset here: compose
  // then warns and substitutes "", which is not a config error.
  const r = await t.exec(cli.argv[0], args, { env: { ...stack.vars }, cwd: dir });
  const ms = Date.now() - t0;
  return files.map((f) => ({
    file: f,
    validator: `${validator} (all ${files.length} compose files)`,
    status: r.exitCode === 0 ? ('OK' as const) : ('FAIL' as const),
    detail: r.exitCode === 0 ? undefined : lastLines(r.out),
    ms,
  }));
}

// --- nginx -----------------------------------------------------------------

/** Self-signed stand-ins for every ssl_certificate path the site files name. */
async function fakeCerts(t: ValidatorTools, dir: string, confs: RenderedFile[], work: string): Promise<{ mounts: [string, string][]; missingOpenssl: boolean }> {
  const dirs = new Set<string>();
  for (const f of confs) for (const m of f.content.matchAll(/^\s*ssl_certificate(?:_key)?\s+(\S+);/gm)) dirs.add(path.posix.dirname(m[1]));
  const mounts: [string, string][] = [];
  let i = 0;
  for (const d of [...dirs].sort()) {
    const local = path.join(work, `cert-${i++}`);
    mkdirSync(local, { recursive: true });
    const r = await t.exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${path.posix.basename(d)}`, '-keyout', path.join(local, 'privkey.pem'), '-out', path.join(local, 'fullchain.pem')]);
    if (r.notFound) return { mounts: [], missingOpenssl: true };
    if (r.exitCode !== 0) throw new Error(`openssl: ${lastLines(r.out)}`);
    mounts.push([local, d]);
  }
  void dir;
  return { mounts, missingOpenssl: false };
}

async function checkNginx(t: ValidatorTools, files: RenderedFile[], dir: string, work: string, useDocker: boolean): Promise<CheckResult[]> {
  const names = files.filter((f) => f.path.startsWith('nginx/')).map((f) => f.path);
  if (!names.includes('nginx/nginx.conf')) return [];
  const t0 = Date.now();
  const confs = files.filter((f) => f.path.startsWith('nginx/'));
  const htpasswd = path.join(work, 'htpasswd');
  writeFileSync(htpasswd, 'validate:$apr1$validate$0000000000000000000000\n');
  const done = (validator: string, status: CheckStatus, detail?: string): CheckResult[] =>
    names.map((file) => ({ file, validator, status, detail, ms: Date.now() - t0 }));
  const certs = await fakeCerts(t, dir, confs, work);
  if (certs.missingOpenssl && confs.some((f) => /ssl_certificate/.test(f.content))) return done('nginx -t', 'SKIPPED', 'validator not installed: openssl (needed for stand-in TLS certificates)');
  const note = `${certs.mounts.length ? 'self-signed stand-ins for the Let\'s Encrypt certificates, ' : ''}a dummy htpasswd; upstreams are resolved at request time`;
  if (useDocker && (await t.imagePresent('lifeops/nginx:local'))) {
    const v = ['-v', `${dir}/nginx:${NGINX_CONF_DIR}:ro`, '-v', `${htpasswd}:/etc/nginx/htpasswd:ro`];
    for (const [local, target] of certs.mounts) v.push('-v', `${local}:${target}:ro`);
    const r = await t.execChange('docker', ['run', '--rm', '--network', 'none', '--label', 'lifeops.validate=1', ...v, 'lifeops/nginx:local', 'nginx', '-t', '-c', NGINX_CONF]);
    const ok = r.exitCode === 0 && /test is successful/.test(r.out);
    return done('nginx -t in lifeops/nginx:local (compose mounts)', ok ? 'OK' : 'FAIL', ok ? note : lastLines(r.out));
  }
  if (await t.which('nginx')) {
    // Host nginx: a copy with the container paths pointed at the stand-ins.
    const copy = path.join(work, 'nginx');
    mkdirSync(path.join(copy, 'conf.d'), { recursive: true });
    for (const f of confs) {
      let text = f.content.replaceAll('/etc/nginx/htpasswd', htpasswd);
      for (const [local, target] of certs.mounts) text = text.replaceAll(`${target}/`, `${local}/`);
      mkdirSync(path.dirname(path.join(work, f.path)), { recursive: true });
      writeFileSync(path.join(work, f.path), text);
    }
    const r = await t.exec('nginx', ['-t', '-c', path.join(copy, 'nginx.conf'), '-p', copy + '/'], { ignoreStdout: true });
    const ok = r.exitCode === 0 && /test is successful/.test(r.out);
    return done('nginx -t (host, container paths mapped to stand-ins)', ok ? 'OK' : 'FAIL', ok ? note : lastLines(r.out));
  }
  return done('nginx -t', 'SKIPPED', 'validator not installed: nginx (host) or the lifeops/nginx:local image');
}

// --- prometheus / alertmanager ---------------------------------------------

async function checkPromtool(t: ValidatorTools, file: string, dir: string, sub: 'config' | 'rules'): Promise<CheckResult> {
  return timed(file, `promtool check ${sub}`, async () => {
    if (!(await t.which('promtool'))) return skip('promtool (apt-get install prometheus)');
    const r = await t.exec('promtool', ['check', sub, path.join(dir, file)], { cwd: dir });
    return r.exitCode === 0 ? { status: 'OK' } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

async function checkPromtoolTests(t: ValidatorTools, file: string, dir: string): Promise<CheckResult> {
  return timed(file, 'promtool test rules', async () => {
    if (!(await t.which('promtool'))) return skip('promtool (apt-get install prometheus)');
    const r = await t.exec('promtool', ['test', 'rules', path.join(dir, file)], { cwd: path.dirname(path.join(dir, file)) });
    return r.exitCode === 0 ? { status: 'OK' } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

async function checkAmtool(t: ValidatorTools, file: string, dir: string): Promise<CheckResult> {
  return timed(file, 'amtool check-config', async () => {
    if (!(await t.which('amtool'))) return skip('amtool (apt-get install prometheus-alertmanager)');
    const r = await t.exec('amtool', ['check-config', path.join(dir, file)], { cwd: dir });
    return r.exitCode === 0 ? { status: 'OK' } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

// --- gunicorn / python -----------------------------------------------------

function stubModule(work: string, module: string): string {
  const [mod, app] = module.split(':');
  const root = path.join(work, 'pystub', mod.replace(/[^A-Za-z0-9_]/g, '_'));
  const parts = mod.split('.');
  let d = root;
  for (const p of parts.slice(0, -1)) {
    d = path.join(d, p);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, '__init__.py'), '');
  }
  mkdirSync(d, { recursive: true });
  writeFileSync(
    path.join(d, `${parts[parts.length - 1]}.py`),
    `# throwaway stand-in written by lifeops validate\ndef ${app}(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n`,
  );
  return root;
}

async function checkGunicorn(t: ValidatorTools, stack: Stack, file: string, dir: string, work: string): Promise<CheckResult> {
  return timed(file, 'gunicorn --check-config', async () => {
    if (!(await t.which('gunicorn'))) return skip('gunicorn (apt-get install python3-gunicorn)');
    const service = path.basename(file).replace(/\.conf\.py$/, '');
    const g = stack.services[service]?.gunicorn;
    if (!g) return { status: 'FAIL', detail: `no service "${service}" with a gunicorn block` };
    // The app's code is not here (or needs packages the host lacks): a throwaway module with the same name.
    const stub = stubModule(work, g.module);
    const conf = readFileSync(path.join(dir, file), 'utf8');
    // Compose mounts the file and logging.conf side by side (GUNICORN_CONF, GUNICORN_LOGGING_CONF): mirror that.
    const copy = path.join(work, 'gunicorn', service, path.basename(GUNICORN_CONF));
    mkdirSync(path.dirname(copy), { recursive: true });
    writeFileSync(copy, conf);
    if (existsSync(path.join(dir, 'logging.conf'))) copyFileSync(path.join(dir, 'logging.conf'), path.join(path.dirname(copy), path.basename(GUNICORN_LOGGING_CONF)));
    let note = `throwaway module ${g.module} on PYTHONPATH (the app's code is not on this host)`;
    if (g.worker_class.includes('.')) {
      const mod = g.worker_class.split('.').slice(0, -1).join('.');
      const has = await t.exec('python3', ['-c', `import ${mod}`]);
      if (has.exitCode !== 0) {
        // The worker class lives in the app image (uvicorn); check everything else with gthread.
        writeFileSync(copy, conf.replace(/^worker_class\s*=.*$/m, 'worker_class = "gthread"'));
        note += `; ${g.worker_class} is not installed here, so the check ran with worker_class gthread`;
      }
    }
    const r = await t.exec('gunicorn', ['--check-config', '-c', copy, g.module], { cwd: stub, env: { PYTHONPATH: stub } });
    return r.exitCode === 0 ? { status: 'OK', detail: note } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

async function checkLoggingConf(t: ValidatorTools, file: string, dir: string): Promise<CheckResult> {
  return timed(file, 'python3 logging.config.fileConfig', async () => {
    if (!(await t.which('python3'))) return skip('python3');
    const r = await t.exec('python3', ['-c', `import logging.config,sys; logging.config.fileConfig(sys.argv[1], disable_existing_loggers=False)`, path.join(dir, file)]);
    return r.exitCode === 0 ? { status: 'OK' } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

// --- datastores (started briefly in their local images, --network none) ----

async function checkRedis(t: ValidatorTools, file: string, dir: string, useDocker: boolean): Promise<CheckResult> {
  return timed(file, 'redis-server in lifeops/redis:7', async () => {
    if (!useDocker || !(await t.imagePresent('lifeops/redis:7'))) return skip('docker engine with the lifeops/redis:7 image (testbed/setup.sh)');
    const r = await t.withContainer(['-v', `${path.join(dir, file)}:${REDIS_CONF}:ro`, 'lifeops/redis:7', 'redis-server', REDIS_CONF], 20_000, async (id) => (await t.exec('docker', ['exec', id, 'redis-cli', 'ping'])).stdout.trim() === 'PONG');
    return r.ok ? { status: 'OK', detail: 'started with the file, answered PING' } : { status: 'FAIL', detail: lastLines(r.logs) };
  });
}

async function checkPostgres(t: ValidatorTools, file: string, dir: string, useDocker: boolean): Promise<CheckResult> {
  return timed(file, 'postgres in lifeops/postgres:15', async () => {
    if (!useDocker || !(await t.imagePresent('lifeops/postgres:15'))) return skip('docker engine with the lifeops/postgres:15 image (testbed/setup.sh)');
    const r = await t.withContainer(
      ['-e', 'POSTGRES_PASSWORD=validate-only-not-a-secret', '-v', `${path.join(dir, file)}:${POSTGRES_CONF}:ro`, 'lifeops/postgres:15', 'postgres', '-c', `config_file=${POSTGRES_CONF}`],
      120_000,
      async (id) => (await t.exec('docker', ['exec', id, 'psql', '-U', 'postgres', '-tAc', 'select 1'])).stdout.trim() === '1',
    );
    return r.ok ? { status: 'OK', detail: 'server started with the file and answered a query' } : { status: 'FAIL', detail: lastLines(r.logs) };
  });
}

async function checkPgbouncer(t: ValidatorTools, files: RenderedFile[], dir: string, useDocker: boolean): Promise<CheckResult[]> {
  const ini = 'pgbouncer/pgbouncer.ini';
  const names = files.filter((f) => f.path.startsWith('pgbouncer/')).map((f) => f.path);
  if (!names.includes(ini)) return [];
  const r = await timed(ini, 'pgbouncer in lifeops/pgbouncer:local', async () => {
    if (!useDocker || !(await t.imagePresent('lifeops/pgbouncer:local'))) return skip('docker engine with the lifeops/pgbouncer:local image (testbed/setup.sh)');
    // the image writes its userlist from DB_USER/DB_PASSWORD at start, as in a deploy (a throwaway password here)
    const c = await t.withContainer(
      ['-v', `${path.join(dir, ini)}:${PGBOUNCER_DIR}/pgbouncer.ini:ro`, '-e', 'DB_USER=lifeops_check', '-e', 'DB_PASSWORD=lifeops-validate-only', '-e', 'AUTH_TYPE=scram-sha-256', 'lifeops/pgbouncer:local'],
      20_000,
      async (id) => /listening on/.test((await t.exec('docker', ['logs', id])).out),
    );
    await t.effects.sleep(0);
    const bad = /FATAL|ERROR/.test(c.logs);
    return c.ok && !bad ? { status: 'OK', detail: 'started with pgbouncer.ini and listened' } : { status: 'FAIL', detail: lastLines(c.logs) };
  });
  return names.map((file) => ({ ...r, file }));
}

// --- the rest ----------------------------------------------------------------

async function checkMake(t: ValidatorTools, file: string, dir: string): Promise<CheckResult> {
  return timed(file, 'make -n', async () => {
    if (!(await t.which('make'))) return skip('make');
    const r = await t.exec('make', ['-n', '-f', path.join(dir, file), 'status'], { cwd: dir });
    return r.exitCode === 0 ? { status: 'OK', detail: 'make -n status' } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

async function checkEnvExample(t: ValidatorTools, stack: Stack, file: string, dir: string, compose: string[]): Promise<CheckResult> {
  return timed(file, 'docker-compose --env-file config -q', async () => {
    let cli;
    try {
      cli = await detectCompose();
    } catch {
      return skip('docker compose / docker-compose');
    }
    const args = [...cli.argv.slice(1), '--env-file', path.join(dir, file), '-p', stack.project, ...compose.flatMap((f) => ['-f', path.join(dir, f)]), 'config', '-q'];
    const r = await t.exec(cli.argv[0], args, { cwd: dir });
    return r.exitCode === 0 ? { status: 'OK', detail: 'compose accepts it as the env file' } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

async function checkJson(t: ValidatorTools, file: string, dir: string): Promise<CheckResult> {
  return timed(file, 'python3 -m json.tool', async () => {
    if (!(await t.which('python3'))) return skip('python3');
    const r = await t.exec('python3', ['-m', 'json.tool', path.join(dir, file)]);
    return r.exitCode === 0 ? { status: 'OK', detail: 'JSON parses (no Grafana binary here to load it)' } : { status: 'FAIL', detail: lastLines(r.out) };
  });
}

/** Validate the stack's rendered files. Renders into a temporary folder first. */
export async function validateStack(stack: Stack, opts: ValidateOptions): Promise<ValidateReport> {
  const t = new ValidatorTools(opts.effects);
  const useDocker = opts.docker !== false && (await t.dockerAvailable());
  const base = mkdtempSync(path.join(os.tmpdir(), 'lifeops-validate-'));
  const dir = path.join(base, 'render');
  const work = path.join(base, 'work');
  mkdirSync(work, { recursive: true });
  try {
    const files = renderStack(stack, dir);
    writeRendered(files, dir);
    const compose = composeFiles(files);
    const jobs: Promise<CheckResult | CheckResult[]>[] = [];
    jobs.push(checkCompose(t, stack, dir, compose));
    jobs.push(checkNginx(t, files, dir, work, useDocker));
    jobs.push(checkPgbouncer(t, files, dir, useDocker));
    const handled = new Set<string>([...compose]);
    for (const f of files) {
      const p = f.path;
      if (handled.has(p) || p.startsWith('nginx/') || p.startsWith('pgbouncer/')) continue;
      if (p === 'prometheus/prometheus.yml') jobs.push(checkPromtool(t, p, dir, 'config'));
      else if (/^prometheus\/rules\/.*tests?\.ya?ml$/.test(p)) jobs.push(checkPromtoolTests(t, p, dir));
      else if (/^prometheus\/rules\/.*\.ya?ml$/.test(p)) jobs.push(checkPromtool(t, p, dir, 'rules'));
      else if (p === 'alertmanager/alertmanager.yml') jobs.push(checkAmtool(t, p, dir));
      else if (/^gunicorn\/.*\.conf\.py$/.test(p)) jobs.push(checkGunicorn(t, stack, p, dir, work));
      else if (p === 'logging.conf') jobs.push(checkLoggingConf(t, p, dir));
      else if (p === 'redis/redis.conf') jobs.push(checkRedis(t, p, dir, useDocker));
      else if (p === 'postgres/postgresql.conf') jobs.push(checkPostgres(t, p, dir, useDocker));
      else if (p === 'Makefile') jobs.push(checkMake(t, p, dir));
      else if (p === '.env.example') jobs.push(checkEnvExample(t, stack, p, dir, compose));
      else if (p.endsWith('.json')) jobs.push(checkJson(t, p, dir));
      else if (p === 'traefik/traefik.yml')
        jobs.push(Promise.resolve({ file: p, validator: 'traefik', status: 'SKIPPED' as const, detail: 'validator not installed: traefik (no Debian package; the test bed image is a placeholder)', ms: 0 }));
      else jobs.push(Promise.resolve({ file: p, validator: 'none', status: 'SKIPPED' as const, detail: 'no validator for this file type on this machine', ms: 0 }));
    }
    const results = (await Promise.all(jobs)).flat().sort((a, b) => a.file.localeCompare(b.file));
    return { stack: stack.name, env: stack.env, dir, ok: results.every((r) => r.status !== 'FAIL'), results };
  } finally {
    if (!opts.keep) rmSync(base, { recursive: true, force: true });
  }
}

export function formatResult(r: CheckResult): string {
  const status = r.status === 'SKIPPED' && r.detail?.startsWith('validator not installed') ? 'SKIPPED (validator not installed)' : r.status;
  const detail = r.status === 'SKIPPED' && r.detail?.startsWith('validator not installed') ? r.detail.replace(/^validator not installed: /, '') : r.detail;
  return `${r.file.padEnd(52)} ${status.padEnd(8)} ${r.validator}${detail ? ` — ${detail}` : ''}`;
}
