// Secrets never reach a command line, checked on the real engine: a copy of
// the demo stack whose Redis has a password is deployed; no container's
// docker inspect (Path/Args, Config.Cmd, Config.Entrypoint, Config.Healthcheck)
// and no process on the host (`ps -eo args`, sampled while lifeops backs up
// health-checks and rolls back the stack, which run redis-cli, pg_dump,
// pg_restore and psql through docker exec) holds the Redis or the Postgres
// password. A secret build arg stays off `docker build`'s command line. Redis still refuses
// a client without the password, and backup, health-check and status work.
// A Redis password with the characters redis.conf must escape (" \ $ ' and a
// space) is checked on the rendered command in the lifeops/redis:7 image.
// Demo copy "secps", front 19447.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import path from 'node:path';
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import { lifeops, demoCopy, at, psWhile, ROOT } from '../helpers.js';
import { loadStack } from '../../src/config/load.js';
import { imagesToBuild } from '../../src/flows/deploy.js';
import { buildEnv } from '../../src/commands/compose.js';
import { runChecked } from '../../src/clients/runner.js';

// URL-safe: the app's REDIS_URL carries it too
const REDIS_PW = 'secps-R3dis-pw-6b1d93f0c2';
const PG_PW = /POSTGRES_PASSWORD=(.+)/.exec(readFileSync(path.resolve(__dirname, '../../stacks/demo.local.env'), 'utf8'))![1].trim();
const SECRETS = [REDIS_PW, PG_PW];
const ENV = { REDIS_PASSWORD: REDIS_PW };

const stack = demoCopy('secps', 19447, (d) => {
  at(d, 'redis').password = '${REDIS_PASSWORD}';
  at(d, 'variables.required').push('REDIS_PASSWORD');
  at(d, 'services.web.environment').REDIS_URL = 'redis://:${REDIS_PASSWORD}@cache:6379/0';
  at(d, 'services.worker.environment').REDIS_URL = 'redis://:${REDIS_PASSWORD}@cache:6379/0';
  // a shared 2-core machine: slack bounds on the first start, still bounded
  for (const svc of Object.values(at(d, 'services') as Record<string, Record<string, any>>)) {
    svc.health_timeout = '600s';
    if (svc.healthcheck) Object.assign(svc.healthcheck, { timeout: '20s', retries: 100, start_period: '300s' });
  }
});
const cli = (...rest: string[]) => lifeops(['-f', stack.file, '--state-dir', stack.stateDir, ...rest], { env: ENV, timeoutMs: 900_000 });

async function containers(): Promise<{ id: string; service: string }[]> {
  const ps = await execa('docker', ['ps', '-a', '--filter', 'label=lifeops.stack=secps', '--format', '{{.ID}} {{.Label "com.docker.compose.service"}}']);
  return ps.stdout.trim().split('\n').filter(Boolean).map((l) => ({ id: l.split(' ')[0], service: l.split(' ')[1] }));
}
const cacheId = async () => (await containers()).find((c) => c.service === 'cache')!.id;

describe('secrets on command lines, on the engine', () => {
  beforeAll(async () => {
    await cli('down', '--volumes', '--yes', '--skip-backup');
    const r = await cli('deploy', 'local');
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
  }, 1_000_000);
  afterAll(async () => {
    await cli('down', '--volumes', '--yes', '--skip-backup');
    rmSync(stack.dir, { recursive: true, force: true });
  }, 300_000);

  it('no container is created with a password in its command, entrypoint or healthcheck', async () => {
    const list = await containers();
    expect(list.map((c) => c.service).sort()).toEqual(expect.arrayContaining(['cache', 'db', 'front', 'web', 'worker']));
    for (const c of list) {
      const [info] = JSON.parse((await execa('docker', ['inspect', c.id])).stdout);
      const argvFields = JSON.stringify({ path: info.Path, args: info.Args, cmd: info.Config.Cmd, entrypoint: info.Config.Entrypoint, healthcheck: info.Config.Healthcheck });
      for (const s of SECRETS) expect(argvFields, `${c.service}: docker inspect`).not.toContain(s);
    }
    // the password did reach Redis, through its environment
    const [cache] = JSON.parse((await execa('docker', ['inspect', await cacheId()])).stdout);
    expect(cache.Config.Env).toContain(`REDISCLI_AUTH=${REDIS_PW}`);
    expect(cache.State.Health.Status).toBe('healthy'); // its `redis-cli ping` healthcheck authenticates through REDISCLI_AUTH
  });

  it('Redis requires the password; its config file is the server user\'s alone', async () => {
    const id = await cacheId();
    const noAuth = await execa('docker', ['exec', id, 'sh', '-c', 'unset REDISCLI_AUTH; redis-cli ping'], { reject: false });
    expect(noAuth.stdout + noAuth.stderr).toContain('NOAUTH');
    const wrong = await execa('docker', ['exec', '-e', 'REDISCLI_AUTH=not-the-password', id, 'redis-cli', 'ping'], { reject: false });
    expect(wrong.stdout + wrong.stderr).toMatch(/WRONGPASS|invalid username-password|NOAUTH/);
    expect((await execa('docker', ['exec', id, 'redis-cli', 'ping'])).stdout.trim()).toBe('PONG');
    expect((await execa('docker', ['exec', id, 'stat', '-c', '%a %U', '/tmp/lifeops-redis.conf'])).stdout.trim()).toBe('600 redis');
    expect((await execa('docker', ['exec', id, 'ps', '-o', 'user=', '-C', 'redis-server'])).stdout.trim()).toBe('redis');
  });

  it('backup, health-check and rollback work, and no process on the host had a password on its command line meanwhile', async () => {
    const id = await cacheId();
    await execa('docker', ['exec', id, 'redis-cli', 'SET', 'secps-key', 'kept']);
    const b = await psWhile(cli('backup', '--json'));
    expect(b.result.exitCode, b.result.stderr).toBe(0);
    const { dir } = JSON.parse(b.result.stdout) as { dir: string };
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(JSON.stringify(manifest)).toContain('redis');
    const h = await psWhile(cli('health-check'));
    expect(h.result.exitCode, h.result.stderr).toBe(0);
    // restore too (pg_restore and psql log in with PGPASSWORD, Redis is stopped and refilled): the key comes back
    const { id: backupId } = JSON.parse(b.result.stdout) as { id: string };
    await execa('docker', ['exec', id, 'redis-cli', 'SET', 'secps-key', 'changed']);
    const rb = await psWhile(cli('rollback', backupId, '--yes'));
    expect(rb.result.exitCode, rb.result.stderr).toBe(0);
    expect((await execa('docker', ['exec', await cacheId(), 'redis-cli', 'GET', 'secps-key'])).stdout.trim()).toBe('kept');
    const st = await cli('status');
    expect(st.stderr).toBe('');
    expect(st.stdout).toMatch(/cache/);
    // a lifeops of another checkout on this host (a second worktree's tests, which may name things after the demo's password on purpose) is not this run's
    const lines = [...b.lines, ...h.lines, ...rb.lines].filter((l) => !/\bbin\/lifeops\.js\b/.test(l) || l.includes(ROOT));
    // the sampler does see the stack's processes: the server (its title: redis-server ADDRESS) and what lifeops ran in the containers
    expect(lines.some((l) => /^redis-server \S+:6379/.test(l))).toBe(true);
    const ran = lines.filter((l) => /^(docker (exec|run)|pg_dump|pg_restore|psql|redis-cli)/.test(l));
    console.log(`secps: ${lines.length} command lines sampled, ${ran.length} of them docker exec/run, pg_dump/pg_restore/psql, redis-cli:\n${ran.slice(0, 40).join('\n')}`);
    expect(ran.length).toBeGreaterThan(0);
    for (const s of SECRETS) expect(lines.filter((l) => l.includes(s))).toEqual([]);
    for (const out of [b.result.stdout, b.result.stderr, h.result.stdout, h.result.stderr, rb.result.stdout, rb.result.stderr, st.stdout]) for (const s of SECRETS) expect(out).not.toContain(s);
  }, 900_000);

  it('docker build with a secret build arg (defence in depth: render refuses such a stack, since docker history keeps build args): no command line shows it', async () => {
    const token = 'secps-build-token-41c9e27d';
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-secps-build-'));
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM lifeops/base:bookworm\nARG NPM_TOKEN\nRUN printf %s "$NPM_TOKEN" | sha256sum | cut -c1-64 > /token.sha256\n');
    writeFileSync(path.join(dir, 'stack.yaml'), 'name: secpsbuild\nservices:\n  app: { role: worker, image: "lifeops-test/secps-build:1", build: { context: ., args: { NPM_TOKEN: "${NPM_TOKEN}" } } }\n');
    const st = loadStack({ file: path.join(dir, 'stack.yaml'), env: 'production', processEnv: { NPM_TOKEN: token } });
    const [build] = imagesToBuild(st);
    try {
      // as the deploy's build step runs it (flows/deploy-execute.ts)
      const b = await psWhile(runChecked(build.argv, { env: { DOCKER_BUILDKIT: '0', ...buildEnv(st, build.image) }, timeoutMs: 300_000 }));
      expect([...b.lines].some((l) => l.startsWith('docker build') && l.includes('--build-arg NPM_TOKEN'))).toBe(true);
      expect([...b.lines].filter((l) => l.includes(token))).toEqual([]);
      const got = (await execa('docker', ['run', '--rm', '--network', 'none', build.image, 'cat', '/token.sha256'])).stdout.trim();
      expect(got).toBe(createHash('sha256').update(token).digest('hex'));
    } finally {
      await execa('docker', ['rmi', '-f', build.image], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);

  it('a password with " \\ $ \' and a space: the rendered start command escapes it for redis.conf', async () => {
    const tricky = `pa"ss\\w$rd 'x`;
    const compose = parse(readFileSync(path.join(stack.stateDir, 'render', 'local', 'docker-compose.yml'), 'utf8'));
    // compose turns $$ into $; the image's entrypoint stays as it is
    const command = (compose.services.cache.command as string[]).map((a) => a.replace(/\$\$/g, '$'));
    const run = await execa('docker', ['run', '-d', '--network', 'none', '--label', 'lifeops.test=secps', '-e', 'REDISCLI_AUTH', '-v', `${path.join(stack.stateDir, 'render', 'local', 'redis', 'redis.conf')}:/usr/local/etc/redis/redis.conf:ro`, 'lifeops/redis:7', ...command], {
      env: { REDISCLI_AUTH: tricky },
    });
    const id = run.stdout.trim();
    try {
      let pong = '';
      for (let i = 0; i < 100 && pong !== 'PONG'; i++) {
        pong = (await execa('docker', ['exec', id, 'redis-cli', 'ping'], { reject: false })).stdout.trim();
        if (pong !== 'PONG') await new Promise((r) => setTimeout(r, 100));
      }
      expect(pong).toBe('PONG');
      const noAuth = await execa('docker', ['exec', id, 'sh', '-c', 'unset REDISCLI_AUTH; redis-cli ping'], { reject: false });
      expect(noAuth.stdout + noAuth.stderr).toContain('NOAUTH');
      // exactly that password: the same without its backslash is refused
      const near = await execa('docker', ['exec', '-e', `REDISCLI_AUTH=${tricky.replace('\\', '')}`, id, 'redis-cli', 'ping'], { reject: false });
      expect(near.stdout + near.stderr).not.toContain('PONG');
      const [info] = JSON.parse((await execa('docker', ['inspect', id])).stdout);
      expect(JSON.stringify([info.Path, info.Args, info.Config.Cmd])).not.toContain(tricky);
      const top = (await execa('docker', ['exec', id, 'ps', '-eo', 'args'])).stdout;
      expect(top).not.toContain('pa"ss');
      expect(top).toMatch(/redis-server \S+:6379/);
      // started on the file the script wrote
      expect((await execa('docker', ['exec', id, 'redis-cli', 'INFO', 'server'])).stdout).toContain('config_file:/tmp/lifeops-redis.conf');
    } finally {
      await execa('docker', ['rm', '-f', id], { reject: false });
    }
  }, 120_000);
});
