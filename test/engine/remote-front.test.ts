// The nginx front of a remote environment over SSH (issue 26), on the test
// bed's namespace server (testbed/remote-host.sh) shared with remote.test.ts;
// its own project (rfm-remote) and port. This side is the operator: its
// DOCKER_HOST points nowhere.
//   - the front bind-mounts the server's fixed folder <root>/<project>/front,
//     not a release folder: a deploy that changes the front's configuration
//     (a security header in the stack file) is served by the same front
//     container after its graceful reload, with 0 failed requests from a
//     load on the server; `rollback --release previous` brings the old
//     header back the same way;
//   - `maintenance on|off` from the operator's side: the page reaches the
//     server's folder (0644 files, 0755 folders) over one SSH connection; the
//     front answers 503 with Retry-After and the page, the health path still
//     200; off: 200 again;
//   - `deploy --maintenance`: the front answers the page while the deploy
//     runs and the new version once it is over; `rollback --maintenance`
//     turns it off again at its end.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { BIN, demoCopy, lifeops, type CliResult } from '../helpers.js';
import { acceptedConnections, bedFor, cleanServer, loadOnServer, onServer, serverContainers, type RemoteBed } from './remote-kit.js';

const PORT = 18541;
const PROJECT = 'rfm-remote';
const FRONT_DIR = `/srv/lifeops/${PROJECT}/front`;
let bed: RemoteBed;
// the demo stack's own `remote` environment (ssh://root@10.238.1.2, the local images)
const stack = demoCopy('rfm', PORT);

const operatorEnv = () => ({ LIFEOPS_COMPOSE: 'v2', LIFEOPS_SSH_IDENTITY: bed.key, LIFEOPS_SSH_KNOWN_HOSTS: bed.knownHosts, DOCKER_HOST: 'unix:///nonexistent/operator-has-no-engine.sock' });
const cli = (args: string[]) => lifeops(['-f', stack.file, '--state-dir', stack.stateDir, ...args], { env: operatorEnv(), timeoutMs: 400_000 });
const ok = async (args: string[]): Promise<CliResult> => {
  const r = await cli(args);
  expect(r.exitCode, `lifeops ${args.join(' ')}:\n${r.stderr}`).toBe(0);
  return r;
};

/** The stack file's front.security_headers.frame_options (what the front's X-Frame-Options says). */
function setFrameOptions(value: 'DENY' | 'SAMEORIGIN'): void {
  const doc = parse(readFileSync(stack.file, 'utf8'));
  doc.front.security_headers = { ...(doc.front.security_headers ?? {}), frame_options: value };
  writeFileSync(stack.file, stringify(doc));
}

/** GET through the front, from the server's own loopback: status, headers (lower-cased names), body. */
async function throughFront(urlPath: string, accept = '*/*'): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const r = await onServer(['curl', '-sS', '-i', '--max-time', '5', '-H', `Accept: ${accept}`, `http://127.0.0.1:${PORT}${urlPath}`]);
  const at = r.stdout.indexOf('\r\n\r\n');
  const lines = r.stdout.slice(0, at).split('\r\n');
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers = Object.fromEntries(lines.slice(1).filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status, headers, body: r.stdout.slice(at + 4) };
}

const frontMounts = async () => (await onServer(['docker', 'inspect', (await serverContainers(PROJECT)).front, '--format', '{{range .Mounts}}{{.Source}} {{end}}'])).stdout.trim().split(' ');
const figures: Record<string, string | number> = {};

beforeAll(async () => {
  bed = await bedFor(PROJECT);
  await ok(['deploy', 'remote']);
}, 600_000);
// the server's engine is shared with the rest of the lane: nothing of this project stays running
afterAll(async () => {
  console.log('remote front figures', figures);
  await cleanServer(PROJECT);
}, 120_000);

describe("a remote environment's nginx front", () => {
  it("mounts the server's fixed front folder; a deploy that changes its configuration is served by the same container, 0 failed requests", async () => {
    expect(await frontMounts()).toContain(FRONT_DIR);
    expect((await throughFront('/')).headers['x-frame-options']).toBe('SAMEORIGIN');
    const before = await serverContainers(PROJECT);
    const stop = path.join(mkdtempSync(path.join(stack.dir, 'load-')), 'stop');
    const load = loadOnServer(PORT, stop);
    await new Promise((r) => setTimeout(r, 1000));
    setFrameOptions('DENY');
    const d = await cli(['deploy', 'remote']);
    await new Promise((r) => setTimeout(r, 1000));
    await execa('touch', [stop]);
    const { ok: served, failed } = await load;
    figures['front configuration change under load: failed/total'] = `${failed}/${served + failed}`;
    expect(d.exitCode, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/front: nginx -t, then graceful reload/);
    expect((await throughFront('/')).headers['x-frame-options']).toBe('DENY');
    expect((await serverContainers(PROJECT)).front).toBe(before.front);
    expect(served).toBeGreaterThan(10);
    expect(failed).toBe(0);
    // the release folder on the server holds the same file the front reads
    const inRelease = await onServer(['sh', '-c', `cat /srv/lifeops/${PROJECT}/current/nginx/conf.d/*.conf`]);
    const inFront = await onServer(['sh', '-c', `cat ${FRONT_DIR}/conf.d/*.conf`]);
    expect(inFront.stdout).toContain('DENY');
    expect(inFront.stdout).toBe(inRelease.stdout);
  });

  it('rollback --release previous: the front serves the earlier configuration again', async () => {
    const front = (await serverContainers(PROJECT)).front;
    await ok(['rollback', '--release', 'previous', '--env', 'remote', '--yes']);
    // nginx's graceful reload is asynchronous (the master starts new workers after the
    // signal is sent): on a busy CI machine the first request once the CLI returned still
    // met an old worker (seen once). Asked again for up to 15 s; the wait is a figure.
    const t0 = Date.now();
    let header = (await throughFront('/')).headers['x-frame-options'];
    while (header !== 'SAMEORIGIN' && Date.now() - t0 < 15_000) {
      await new Promise((r) => setTimeout(r, 250));
      header = (await throughFront('/')).headers['x-frame-options'];
    }
    figures['rollback --release: ms until the front served the earlier header'] = Date.now() - t0;
    expect(header).toBe('SAMEORIGIN');
    expect((await serverContainers(PROJECT)).front).toBe(front);
  });

  it('maintenance on and off from the operator side: 503 with Retry-After and the page, over one connection', async () => {
    const before = acceptedConnections(bed.sshdLog);
    const on = await ok(['maintenance', 'on', '--env', 'remote', '--retry-after', '120', '--message', 'Back soon: the database is moving.', '--json']);
    figures['ssh connections: maintenance on'] = acceptedConnections(bed.sshdLog) - before;
    expect(acceptedConnections(bed.sshdLog) - before).toBe(1);
    expect(JSON.parse(on.stdout).front).toMatch(/answered 503 with the maintenance page/);
    const page = await throughFront('/');
    expect(page.status).toBe(503);
    expect(page.headers['retry-after']).toBe('120');
    expect(page.body).toContain('Back soon: the database is moving.');
    const json = await throughFront('/', 'application/json');
    expect(JSON.parse(json.body)).toMatchObject({ status: 'maintenance', retry_after: 120 });
    expect((await throughFront('/health')).status).toBe(200); // what monitors use stays answered
    // what the front's nginx workers read: world-readable files in world-readable folders, nothing writable by others
    const modes = await onServer(['sh', '-c', `cd ${FRONT_DIR}/maintenance && stat -c '%a %n' . active/ active/*`]);
    expect(modes.stdout.trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['755', '755', '644', '644', '644']);
    expect((await ok(['maintenance', 'status', '--env', 'remote'])).stdout).toContain('maintenance mode is ON');

    const off = await ok(['maintenance', 'off', '--env', 'remote']);
    expect(off.stderr).toContain('maintenance mode is off');
    expect((await throughFront('/')).status).toBe(200);
    expect((await onServer(['test', '-e', `${FRONT_DIR}/maintenance/active`])).exitCode).toBe(1);
  });

  it('deploy --maintenance: the page while the deploy runs, the new version after it', async () => {
    const deploy = execa('node', [BIN, '-f', stack.file, '--state-dir', stack.stateDir, 'deploy', 'remote', '--version', 'v2', '--maintenance'], { reject: false, env: { CI: '1', ...operatorEnv() } });
    let ended = false;
    void deploy.finally(() => (ended = true));
    let seen = 0;
    for (let i = 0; i < 600 && !ended; i++) {
      const a = await throughFront('/', 'application/json');
      if (a.status === 503 && a.body.includes('"maintenance"')) seen++;
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await deploy;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toContain('maintenance mode off: the deploy is over');
    expect(seen).toBeGreaterThan(0);
    const ready = await throughFront('/ready');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body).version).toBe('v2');
    // rollback --maintenance holds it the same way, and lets go of it
    const back = await ok(['rollback', '--release', 'previous', '--env', 'remote', '--yes', '--maintenance']);
    expect(back.stderr).toContain('maintenance mode off: the rollback is over');
    expect(JSON.parse((await throughFront('/ready')).body).version).toBe('dev');
    expect((await onServer(['test', '-e', `${FRONT_DIR}/maintenance/active`])).exitCode).toBe(1);
  });
});
