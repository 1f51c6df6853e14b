// deploy on the real engine: v1 -> v2 under bounded load through the front
// (0 failed requests), a version failing /ready leaves the previous one
// serving (exit 1), --dry-run changes no container.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { lifeops, demoCopy, at, editStack, loadThroughFront } from '../helpers.js';

const PORT = 18090;
const stack = demoCopy('dpt', PORT, (d) => {
  // readiness of a version can be broken from the environment: /ready checks Redis
  at(d, 'services.web.environment').REDIS_URL = '${WEB_REDIS_URL}';
  at(d, 'variables.defaults').WEB_REDIS_URL = 'redis://cache:6379/0';
  at(d, 'services.web').health_timeout = '45s'; // short, so the failing-/ready case ends soon; room for a loaded 2-core host
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];
const ENV = { POSTGRES_PASSWORD: 'demo-local-password-not-secret' };

const ids = async () => (await execa('docker', ['ps', '-aq', '--no-trunc', '--filter', 'label=com.docker.compose.project=dpt-local'])).stdout.split('\n').filter(Boolean).sort();
const version = async () => ((await (await fetch(`http://127.0.0.1:${PORT}/`)).json()) as { version: string }).version; // / is the app; /health is answered by nginx


describe('deploy (real engine)', () => {
  beforeAll(async () => {
    const r = await lifeops(args('deploy', 'local', '--version', 'v1'), { env: ENV });
    if (r.exitCode !== 0) throw new Error(`deploy v1 failed:\n${r.stderr}`);
  });
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'), { env: ENV });
  });

  it('--dry-run prints the commands and leaves every container as it was', async () => {
    const before = await ids();
    const r = await lifeops(args('deploy', 'local', '--version', 'v9', '--dry-run'), { env: ENV });
    expect(r.exitCode).toBe(0);
    // the plan: per service its action and reason, then the steps with their commands
    expect(r.stderr).toMatch(/web\s+roll\s+configuration changed/); // the image tag carries the version
    expect(r.stderr).toMatch(/db\s+keep\s+configuration and image unchanged/);
    expect(r.stderr).toMatch(/\$ .*--scale web=2 web/);
    // no migration file is new: no one-off migrations container
    expect(r.stderr).toMatch(/note: migrations: no new file in \S+ since the last release: no migrations container/);
    expect(r.stderr).not.toMatch(/run --rm --no-deps -T web python3 migrate.py/);
    expect(r.stderr).toMatch(/dry run: nothing was changed/);
    expect(await ids()).toEqual(before);
    expect(await version()).toBe('v1');
  });

  it('v1 -> v2 under bounded load through the front: no failed request, unchanged services keep their containers', async () => {
    const kept = async () => {
      const out: Record<string, string> = {};
      for (const svc of ['db', 'cache', 'front']) out[svc] = (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', 'label=com.docker.compose.project=dpt-local', '--filter', `label=com.docker.compose.service=${svc}`])).stdout.trim();
      return out;
    };
    const before = await kept();
    let finished = false;
    const loading = loadThroughFront(PORT, () => finished);
    const r = await lifeops(args('deploy', 'local', '--version', 'v2'), { env: ENV });
    finished = true;
    const seen = await loading;
    console.log(`version change under load (compose ${process.env.LIFEOPS_COMPOSE ?? 'as found'}): ${seen.failed} of ${seen.ok + seen.failed} requests failed`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await version()).toBe('v2');
    expect(seen.ok).toBeGreaterThan(20);
    expect(seen.failed).toBe(0);
    expect(await kept()).toEqual(before);
    // the front is reloaded before the old web stops (it learns the new address) and again after (it forgets the old one)
    const steps = r.stderr.split('\n').filter((l) => l.includes('✔')).map((l) => l.replace(/^\S+ ✔ /, ''));
    const at = (re: RegExp) => steps.findIndex((t) => re.test(t));
    expect(at(/^web: reload the front \(/)).toBeGreaterThan(-1);
    expect(at(/^web: stop old container/)).toBeGreaterThan(at(/^web: reload the front \(/));
    expect(at(/^web: reload the front again/)).toBeGreaterThan(at(/^web: stop old container/));
  });

  it('a version failing /ready leaves the previous version serving and exits 1', async () => {
    const r = await lifeops(args('deploy', 'local', '--version', 'v3', '--skip-backup'), { env: { ...ENV, WEB_REDIS_URL: 'redis://nowhere:6379/0' } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/did not become healthy and ready/);
    expect(r.stderr).toMatch(/rolled back to the previous release .* \(version v2\)/);
    expect(await version()).toBe('v2');
    const h = JSON.parse((await lifeops(args('history', '--json'), { env: ENV })).stdout);
    expect(h.at(-1)).toMatchObject({ version: 'v3', outcome: 'rolled-back' });
  });

  it('an unchanged stack: compose hashes reused, nothing recreated, no compose up', async () => {
    const before = await ids();
    const r = await lifeops(args('deploy', 'local', '--version', 'v2', '--skip-backup'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/compose hashes of release \S+: same compose files and variables/);
    expect(r.stderr).toMatch(/plan: unchanged: db, cache, web, worker, front/);
    expect(r.stderr).not.toMatch(/compose up/);
    expect(await ids()).toEqual(before);
  });

  it('a front configuration change is applied by a graceful nginx reload: same container, no failed request', async () => {
    const frontId = async () => (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', 'label=com.docker.compose.project=dpt-local', '--filter', 'label=com.docker.compose.service=front'])).stdout.trim();
    const post = async () => (await fetch(`http://127.0.0.1:${PORT}/`, { method: 'POST', body: 'x'.repeat(4096) })).status;
    const before = await frontId();
    expect(await post()).not.toBe(413); // the demo allows 10m bodies
    editStack(stack.file, (d) => {
      at(d, 'front').client_max_body_size = '1k';
    });
    let finished = false;
    const loading = loadThroughFront(PORT, () => finished);
    const r = await lifeops(args('deploy', 'local', '--version', 'v2', '--skip-backup'), { env: ENV });
    finished = true;
    const seen = await loading;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/front: nginx -t, then graceful reload of dpt-local[-_]front[-_]1 \(its configuration changed\)/);
    expect(await frontId()).toBe(before);
    expect(await post()).toBe(413);
    expect(seen.failed).toBe(0);
    expect(seen.ok).toBeGreaterThan(0);
  });
});
