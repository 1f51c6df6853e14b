// Maintenance mode on a deployed copy of the demo stack: the nginx front
// answers 503 with Retry-After and the page (JSON when asked), the health
// paths stay up, `status` warns, and the front container is never replaced
// or reloaded; requests while toggling are answered (200 or 503), none fail.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { lifeops, demoCopy, at } from '../helpers.js';

const PORT = 18977;
const stack = demoCopy('mnt', PORT, (d) => {
  // a version can be made to fail /ready from the environment (it checks Redis), as in deploy-rollout.test.ts
  at(d, 'services.web.environment').REDIS_URL = '${WEB_REDIS_URL}';
  at(d, 'variables.defaults').WEB_REDIS_URL = 'redis://cache:6379/0';
  at(d, 'services.web').health_timeout = '45s';
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];
const ENV = { POSTGRES_PASSWORD: 'demo-local-password-not-secret' };
const url = (p: string) => `http://127.0.0.1:${PORT}${p}`;

const frontId = async () => (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', 'label=com.docker.compose.project=mnt-local', '--filter', 'label=com.docker.compose.service=front'])).stdout.trim();
const frontStarted = async (id: string) => (await execa('docker', ['inspect', '-f', '{{.State.StartedAt}} {{.RestartCount}}', id])).stdout.trim();

async function get(p: string, headers: Record<string, string> = {}) {
  const r = await fetch(url(p), { headers, signal: AbortSignal.timeout(5000) });
  return { status: r.status, retryAfter: r.headers.get('retry-after'), type: r.headers.get('content-type') ?? '', body: await r.text() };
}

describe('maintenance mode (real engine)', () => {
  let front = '';
  let started = '';
  beforeAll(async () => {
    const r = await lifeops(args('deploy', 'local', '--version', 'm1', '--skip-backup'), { env: ENV });
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
    front = await frontId();
    started = await frontStarted(front);
  });
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes'), { env: ENV });
  });

  it('--dry-run prints the page it would write and changes nothing', async () => {
    const r = await lifeops(args('maintenance', 'on', '--dry-run', '--message', 'Dry <run>'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/would write \S+nginx\/maintenance\/r-300-\S+\/index\.html/);
    expect(r.stderr).toContain('Dry &lt;run&gt;');
    expect((await get('/')).status).toBe(200);
    expect(JSON.parse((await lifeops(args('maintenance', 'status', '--json'), { env: ENV })).stdout)).toMatchObject({ on: false });
  });

  it('on: 503 with Retry-After and the escaped message, JSON when asked; health paths still 200; status WARNING', async () => {
    const message = `Upgrading the database <b>now</b> & "soon" back`;
    const r = await lifeops(args('maintenance', 'on', '--message', message, '--retry-after', '120'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/answered 503 with the maintenance page/);

    const page = await get('/');
    expect(page.status).toBe(503);
    expect(page.retryAfter).toBe('120');
    expect(page.type).toMatch(/^text\/html/);
    expect(page.body).toContain('Upgrading the database &lt;b&gt;now&lt;/b&gt; &amp; &quot;soon&quot; back');
    expect(page.body).not.toContain('<b>now</b>');
    const post = await fetch(url('/items'), { method: 'POST', body: 'x', signal: AbortSignal.timeout(5000) });
    expect(post.status).toBe(503); // not 405: the page is served to any method

    const json = await get('/anything?x=1', { accept: 'application/json' });
    expect(json.status).toBe(503);
    expect(json.retryAfter).toBe('120');
    expect(json.type).toMatch(/^application\/json/);
    expect(JSON.parse(json.body)).toMatchObject({ status: 'maintenance', message });

    // the front's own /health and the app's /ready (proxied) keep answering
    expect((await get('/health')).status).toBe(200);
    const ready = await get('/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).not.toMatch(/maintenance/);

    const st = await lifeops(args('status', '--json'), { env: ENV });
    const report = JSON.parse(st.stdout);
    const check = report.checks.find((c: { check: string }) => c.check === 'maintenance');
    expect(check).toMatchObject({ level: 'WARNING' });
    expect(check.message).toContain(message);
    expect(check.message).toMatch(/since 20\d\d-/);
    expect(st.exitCode).toBeGreaterThanOrEqual(1);
    const nagios = await lifeops(args('status', '--format', 'nagios'), { env: ENV });
    expect(nagios.stdout).toMatch(/maintenance: maintenance mode is on/);
    const prom = await lifeops(args('status', '--format', 'prometheus'), { env: ENV });
    expect(prom.stdout).toMatch(/^lifeops_maintenance\{[^}]*\} 1$/m);
    expect(prom.stdout).toMatch(/^lifeops_check_status\{[^}]*check="maintenance"\} 1$/m);

    expect(await frontId()).toBe(front);
    expect(await frontStarted(front)).toBe(started);
  });

  it('off: 200 again, no maintenance check, the same front container', async () => {
    const r = await lifeops(args('maintenance', 'off'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(home.retryAfter).toBeNull();
    const report = JSON.parse((await lifeops(args('status', '--json'), { env: ENV })).stdout);
    expect(report.checks.map((c: { check: string }) => c.check)).not.toContain('maintenance');
    expect(await frontId()).toBe(front);
    expect(await frontStarted(front)).toBe(started);
  });

  it('from a state dir not in charge of the project: refused with exit 2, the front untouched', async () => {
    const other = `${stack.stateDir}-other`;
    const r = await lifeops(['-f', stack.file, '--state-dir', other, 'maintenance', 'on'], { env: ENV });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/state dir/);
    expect((await get('/')).status).toBe(200);
  });

  it('toggling under a bounded request loop: every request is answered 200 or 503, none fails', async () => {
    let done = false;
    const seen = { ok: 0, maintenance: 0, failed: 0 };
    const loop = (async () => {
      for (let i = 0; i < 600 && !done; i++) {
        try {
          const r = await get('/', { accept: 'application/json' });
          if (r.status === 200) seen.ok++;
          else if (r.status === 503 && r.retryAfter && /"maintenance"/.test(r.body)) seen.maintenance++;
          else seen.failed++;
        } catch {
          seen.failed++;
        }
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    for (let i = 0; i < 3; i++) {
      expect((await lifeops(args('maintenance', 'on', '--retry-after', String(30 + i)), { env: ENV })).exitCode).toBe(0);
      await new Promise((res) => setTimeout(res, 400));
      expect((await lifeops(args('maintenance', 'off'), { env: ENV })).exitCode).toBe(0);
      await new Promise((res) => setTimeout(res, 400));
    }
    done = true;
    await loop;
    console.log(`maintenance toggled 3 times under load: ${seen.maintenance} answered 503 (maintenance), ${seen.ok} answered 200, ${seen.failed} failed, of ${seen.ok + seen.maintenance + seen.failed}`);
    expect(seen.failed).toBe(0);
    expect(seen.maintenance).toBeGreaterThan(5);
    expect(seen.ok).toBeGreaterThan(5);
    expect(await frontId()).toBe(front);
    expect(await frontStarted(front)).toBe(started);
  });

  it('deploy --maintenance holds it for the deploy and turns it off at the end', async () => {
    let done = false;
    let during = 0;
    const loop = (async () => {
      for (let i = 0; i < 1500 && !done; i++) {
        try {
          if ((await get('/')).status === 503) during++;
        } catch {
          /* counted by the toggling test; here only the 503s matter */
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const r = await lifeops(args('deploy', 'local', '--version', 'm2', '--skip-backup', '--maintenance'), { env: ENV });
    done = true;
    await loop;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/maintenance mode on for the deploy/);
    expect(r.stderr).toMatch(/maintenance mode off: the deploy is over/);
    expect(during).toBeGreaterThan(0);
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(JSON.parse(home.body).version).toBe('m2');
    expect(JSON.parse((await lifeops(args('maintenance', 'status', '--json'), { env: ENV })).stdout)).toMatchObject({ on: false });
  });

  it('deploy --maintenance leaves on a maintenance the operator turned on before', async () => {
    expect((await lifeops(args('maintenance', 'on', '--message', 'restore in progress'), { env: ENV })).exitCode).toBe(0);
    const r = await lifeops(args('deploy', 'local', '--version', 'm2', '--skip-backup', '--maintenance'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/already on .* it stays on after this deploy/);
    const st = JSON.parse((await lifeops(args('maintenance', 'status', '--json'), { env: ENV })).stdout);
    expect(st).toMatchObject({ on: true, message: 'restore in progress', by: 'lifeops maintenance on' });
    expect((await get('/')).status).toBe(503);
    expect((await lifeops(args('maintenance', 'off'), { env: ENV })).exitCode).toBe(0);
    expect((await get('/')).status).toBe(200);
  });

  it('deploy --maintenance that fails: undone first, then maintenance off; the previous version serves', async () => {
    const r = await lifeops(args('deploy', 'local', '--version', 'm3', '--skip-backup', '--maintenance'), { env: { ...ENV, WEB_REDIS_URL: 'redis://nowhere:6379/0' } });
    expect(r.exitCode).toBe(1);
    const undone = r.stderr.search(/rolled back to the previous release|rollback: put back the rendered files/);
    const off = r.stderr.indexOf('maintenance mode off: the deploy is over');
    expect(r.stderr.indexOf('maintenance mode on for the deploy')).toBeGreaterThan(-1);
    expect(undone, r.stderr).toBeGreaterThan(-1);
    expect(off, r.stderr).toBeGreaterThan(undone);
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(JSON.parse(home.body).version).toBe('m2');
    expect(JSON.parse((await lifeops(args('maintenance', 'status', '--json'), { env: ENV })).stdout)).toMatchObject({ on: false });
    expect(await frontId()).toBe(front);
  });

  it('rollback --release --maintenance holds it for the rollback and turns it off at the end', async () => {
    const history = JSON.parse((await lifeops(args('history', '--json'), { env: ENV })).stdout) as { run_id: string; outcome: string; kind: string }[];
    const release = history.filter((h) => h.kind === 'deploy' && h.outcome === 'success').at(-1)!.run_id;
    const b = await lifeops(args('backup', '--tag', 'for-rollback'), { env: ENV });
    expect(b.exitCode, b.stderr).toBe(0);
    let done = false;
    let during = 0;
    const loop = (async () => {
      for (let i = 0; i < 1500 && !done; i++) {
        try {
          if ((await get('/')).status === 503) during++;
        } catch {
          /* only the 503s matter here */
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const r = await lifeops(args('rollback', '--release', release, '--maintenance', '--yes'), { env: ENV });
    done = true;
    await loop;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/maintenance mode on for the rollback/);
    expect(r.stderr).toMatch(/maintenance mode off: the rollback is over/);
    expect(during).toBeGreaterThan(0);
    expect((await get('/')).status).toBe(200);
    expect(JSON.parse((await lifeops(args('maintenance', 'status', '--json'), { env: ENV })).stdout)).toMatchObject({ on: false });
    expect(await frontId()).toBe(front);
  });
});
