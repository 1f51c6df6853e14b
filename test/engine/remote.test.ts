// An environment on a remote server over SSH (issue 26), on the test bed's
// namespace server (testbed/remote-host.sh: its own network and mount
// namespaces, sshd, its own dockerd). This side is the operator: its
// DOCKER_HOST points nowhere, so everything must go over SSH.
//   - an unknown host key is refused (exit 2, naming `lifeops hosts trust`)
//     before anything reaches the server; `hosts trust --yes` pins the key
//     whose fingerprint it printed;
//   - deploy: the containers run on the server's engine, bind mounts point at
//     the server's copy of the release (/srv/lifeops/<project>/current ->
//     releases/<run>), the bundle holds no secret, one SSH connection;
//   - an unchanged deploy keeps every container; status in every format;
//   - a version change under load (requests from the server's own loopback):
//     0 failed;
//   - two operators (two state dirs) serialize on the server's lock;
//   - the operator killed mid-deploy: the next run goes on (the server's lock
//     went with the dead process's SSH session);
//   - the link cut mid-deploy (the veth down past the keepalives): the run
//     fails naming the lost connection, the next one finishes;
//   - backup over the same connection;
//   - figures: SSH connections per command; unchanged deploy and status from
//     here against the same commands run on the server itself.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, demoCopy, lifeops, type CliResult } from '../helpers.js';
import { acceptedConnections, cleanServer, loadOnServer, medianMs, onServer, remoteBed, serverContainers, type RemoteBed } from './remote-kit.js';

const PORT = 18493;
const PROJECT = 'rmt-remote';
const PASSWORD = 'demo-local-password-not-secret';
const IMAGES = { postgres: 'lifeops/postgres:15', redis: 'lifeops/redis:7', nginx: 'lifeops/nginx:local' };
let bed: RemoteBed;
const stack = demoCopy('rmt', PORT, (d) => {
  d.environments.remote = { env_file: 'demo.local.env', host: 'ssh://root@10.238.1.2', images: IMAGES };
  // the same project run by lifeops ON the server (the figures' baseline)
  d.environments.onserver = { env_file: 'demo.local.env', project: PROJECT, images: IMAGES };
});
const figures: Record<string, string | number> = {};

function operatorEnv(): Record<string, string> {
  return { LIFEOPS_COMPOSE: 'v2', LIFEOPS_SSH_IDENTITY: bed.key, LIFEOPS_SSH_KNOWN_HOSTS: bed.knownHosts, DOCKER_HOST: 'unix:///nonexistent/operator-has-no-engine.sock' };
}
const cli = (args: string[], stateDir = stack.stateDir, env: Record<string, string> = {}) => lifeops(['-f', stack.file, '--state-dir', stateDir, ...args], { env: { ...operatorEnv(), ...env }, timeoutMs: 400_000 });

/** a command's result and the SSH connections the server accepted while it ran */
async function counted(fn: () => Promise<CliResult>): Promise<CliResult & { connections: number }> {
  const before = acceptedConnections(bed.sshdLog);
  const r = await fn();
  return { ...r, connections: acceptedConnections(bed.sshdLog) - before };
}

beforeAll(async () => {
  bed = await remoteBed();
  await cleanServer(PROJECT);
}, 300_000);

describe('a remote environment over SSH', () => {
  it('an unknown host key is refused with exit 2, naming the command that pins it', async () => {
    const d = await counted(() => cli(['deploy', 'remote']));
    expect(d.exitCode, d.stderr).toBe(2);
    expect(d.stderr).toContain('host key of 10.238.1.2 (environment remote) is unknown');
    expect(d.stderr).toContain('lifeops hosts trust remote');
    expect(d.connections).toBe(0);
    expect(await serverContainers(PROJECT)).toEqual({});
    // status keeps the monitoring convention: UNKNOWN (3), the same reason
    const s = await cli(['status', '--env', 'remote']);
    expect(s.exitCode).toBe(3);
    expect(s.stderr).toContain('is unknown: refused');
  });

  it('hosts trust shows the fingerprint, asks, and pins the key after --yes', async () => {
    const asked = await cli(['hosts', 'trust', 'remote']);
    expect(asked.exitCode).toBe(2); // no terminal to confirm on
    expect(existsSync(bed.knownHosts)).toBe(false);
    const want = (await execa('ssh-keygen', ['-l', '-f', '/var/lib/lifeops-remote/ssh_host_ed25519_key.pub'])).stdout.split(' ')[1];
    const t = await cli(['hosts', 'trust', 'remote', '--yes']);
    expect(t.exitCode, t.stderr).toBe(0);
    expect(t.stderr).toContain(want);
    expect(readFileSync(bed.knownHosts, 'utf8').trim()).toBe(bed.hostKeyLine);
    const again = await cli(['hosts', 'trust', 'remote', '--yes']);
    expect(again.stderr).toContain('already has a pinned key');
    expect(readFileSync(bed.knownHosts, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it("deploys to the server's engine over one connection; bind mounts are the server's paths", async () => {
    const d = await counted(() => cli(['deploy', 'remote', '--json']));
    expect(d.exitCode, d.stderr).toBe(0);
    const runId = JSON.parse(d.stdout).run_id as string;
    figures['ssh connections: first deploy'] = d.connections;
    expect(d.connections).toBe(1);
    expect(Object.keys(await serverContainers(PROJECT)).sort()).toEqual(['cache', 'db', 'front', 'web', 'worker']);
    const local = await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
    expect(local.stdout.trim()).toBe('');
    expect((await onServer(['readlink', `/srv/lifeops/${PROJECT}/current`])).stdout.trim()).toBe(`releases/${runId}`);
    const mounts = (await onServer(['docker', 'inspect', `${PROJECT}-front-1`, '--format', '{{range .Mounts}}{{.Source}} {{end}}'])).stdout.trim().split(' ');
    // the nginx front reads the server's fixed front folder (each release switch updates it); the others the release through `current`
    expect(mounts).toContain(`/srv/lifeops/${PROJECT}/front`);
    const cache = (await onServer(['docker', 'inspect', `${PROJECT}-cache-1`, '--format', '{{range .Mounts}}{{.Source}} {{end}}'])).stdout;
    expect(cache).toContain(`/srv/lifeops/${PROJECT}/current/`);
    expect(existsSync('/srv/lifeops')).toBe(false); // the operator's side never had the server's files
    // the secret travelled in the engine API call over the SSH connection: it is in no file of the release
    const grep = await onServer(['grep', '-rl', PASSWORD, `/srv/lifeops/${PROJECT}`]);
    expect(grep.exitCode).toBe(1);
    const front = await onServer(['curl', '-fsS', `http://127.0.0.1:${PORT}/health`]);
    expect(front.exitCode, front.stderr).toBe(0);
  });

  it('an unchanged deploy keeps every container; status in every format', async () => {
    const before = await serverContainers(PROJECT);
    const d = await counted(() => cli(['deploy', 'remote']));
    expect(d.exitCode, d.stderr).toBe(0);
    expect(await serverContainers(PROJECT)).toEqual(before);
    figures['ssh connections: unchanged deploy'] = d.connections;
    expect(d.connections).toBe(1);
    for (const format of ['text', 'json', 'nagios', 'prometheus']) {
      const s = await counted(() => cli(['status', '--env', 'remote', '--format', format]));
      expect(s.exitCode, `${format}: ${s.stdout}${s.stderr}`).toBe(0);
      expect(s.connections).toBe(1);
      figures[`ssh connections: status --format ${format}`] = s.connections;
    }
    const j = JSON.parse((await cli(['status', '--env', 'remote', '--json'])).stdout);
    expect(j.level).toBe('OK');
    expect(j.services.map((s: { service: string; state: string }) => `${s.service}:${s.state}`).sort()).toEqual(['cache:running', 'db:running', 'front:running', 'web:running', 'worker:running']);
    const h = await cli(['health-check', '--env', 'remote']);
    expect(h.exitCode, h.stdout + h.stderr).toBe(0);
    const logs = await cli(['logs', '--env', 'remote', 'web']);
    expect(logs.exitCode).toBe(0);
    expect(logs.stdout).toContain('/health');
  });

  it('a version change under load from the server: 0 failed requests', async () => {
    const stop = path.join(mkdtempSync(path.join(stack.dir, 'load-')), 'stop');
    const before = await serverContainers(PROJECT);
    const load = loadOnServer(PORT, stop);
    await new Promise((r) => setTimeout(r, 1500));
    const d = await cli(['deploy', 'remote', '--version', 'v2']);
    await new Promise((r) => setTimeout(r, 1500));
    await execa('touch', [stop]);
    const { ok, failed } = await load;
    figures['version change under load: failed/total'] = `${failed}/${ok + failed}`;
    expect(d.exitCode, d.stderr).toBe(0);
    expect(ok).toBeGreaterThan(20);
    expect(failed).toBe(0);
    const after = await serverContainers(PROJECT);
    expect(after.front).toBe(before.front);
    expect(after.web).not.toBe(before.web);
    const image = await onServer(['docker', 'inspect', after.web, '--format', '{{.Config.Image}}']);
    expect(image.stdout.trim()).toBe('lifeops/demo-app:v2');
  });

  it("two operators with their own state dirs serialize on the server's lock", async () => {
    const other = mkdtempSync(path.join(stack.dir, 'operator-b-'));
    const a = execa('node', [BIN, '-f', stack.file, '--state-dir', stack.stateDir, 'deploy', 'remote', '--version', 'v3'], { reject: false, env: { CI: '1', ...operatorEnv() } });
    // B starts once A holds the server's lock
    let holder = '';
    for (let i = 0; i < 100 && !holder.includes(`pid ${a.pid}`); i++) {
      await new Promise((r) => setTimeout(r, 200));
      holder = (await onServer(['cat', `/srv/lifeops/${PROJECT}/locks/remote.holder`])).stdout;
    }
    expect(holder).toContain(`pid ${a.pid} (lifeops deploy)`);
    const b = await cli(['deploy', 'remote', '--version', 'v3'], other);
    const ra = await a;
    expect(ra.exitCode, String(ra.stderr)).toBe(0);
    expect(b.stderr).toContain(`server lock: waiting for`);
    expect(b.stderr).toContain(`pid ${a.pid}`);
    // B went on after A, and found that its state dir is not the one in charge of the containers
    expect(b.exitCode, b.stderr).toBe(2);
    expect(b.stderr).toContain(`project "${PROJECT}" is managed by the state dir ${stack.stateDir}`);
  });

  it('the operator killed mid-deploy: the next run takes the lock and finishes', async () => {
    const killed = await cli(['deploy', 'remote', '--version', 'v4'], stack.stateDir, { LIFEOPS_TEST_KILL_AT_STEP: '4' });
    expect(killed.exitCode).not.toBe(0);
    const next = await cli(['deploy', 'remote', '--version', 'v4']);
    expect(next.exitCode, next.stderr).toBe(0);
    const image = await onServer(['docker', 'inspect', (await serverContainers(PROJECT)).web, '--format', '{{.Config.Image}}']);
    expect(image.stdout.trim()).toBe('lifeops/demo-app:v4');
  });

  it('the link cut mid-deploy: the run fails naming the lost connection; the next run finishes', async () => {
    let out = '';
    const cut = execa('node', [BIN, '-f', stack.file, '--state-dir', stack.stateDir, 'deploy', 'remote', '--version', 'v5'], { reject: false, all: true, env: { CI: '1', ...operatorEnv() } });
    cut.all!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 600 && !out.includes('plan: '); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('plan: ');
    await execa('ip', ['link', 'set', 'lrmh1', 'down']);
    try {
      // the client gives up after ServerAliveInterval x ServerAliveCountMax (15 s), sshd as long (ClientAlive)
      await new Promise((r) => setTimeout(r, 20_000));
    } finally {
      await execa('ip', ['link', 'set', 'lrmh1', 'up']);
    }
    const r = await cut;
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain('the SSH connection to root@10.238.1.2 (environment remote) was lost');
    const next = await cli(['deploy', 'remote', '--version', 'v5']);
    expect(next.exitCode, next.stderr).toBe(0);
    const image = await onServer(['docker', 'inspect', (await serverContainers(PROJECT)).web, '--format', '{{.Config.Image}}']);
    expect(image.stdout.trim()).toBe('lifeops/demo-app:v5');
  });

  it('backup over the same connection', async () => {
    const b = await counted(() => cli(['backup', '--env', 'remote']));
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.connections).toBe(1);
    const list = await cli(['backups', 'list', '--env', 'remote']);
    expect(list.stdout).toMatch(/\d{8}T\d{6}Z-\w+ +remote/);
  });

  it('figures: unchanged deploy and status from here against the same on the server', async () => {
    const remoteStatus = await medianMs(3, () => cli(['status', '--env', 'remote']));
    const remoteDeploy = await medianMs(3, () => cli(['deploy', 'remote', '--version', 'v5']));
    // lifeops on the server itself (same project; its own state dir, taking the containers over once)
    const serverState = mkdtempSync(path.join(stack.dir, 'server-state-'));
    const owner = (await onServer(['docker', 'ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Label "lifeops.state"}}'])).stdout.trim().split('\n')[0];
    const onserver = (args: string[], env: Record<string, string> = {}) =>
      onServer(['env', 'CI=1', 'LIFEOPS_COMPOSE=v2', 'VERSION=v5', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'node', BIN, '-f', stack.file, '--state-dir', serverState, ...args], { timeoutMs: 400_000 });
    const converge = await onserver(['deploy', 'onserver'], { LIFEOPS_TAKE_OVER: owner });
    expect(converge.exitCode, converge.stderr).toBe(0);
    const serverDeploy = await medianMs(3, async () => expect((await onserver(['deploy', 'onserver'])).exitCode).toBe(0));
    const serverStatus = await medianMs(3, () => onserver(['status', '--env', 'onserver']));
    figures['unchanged deploy: operator ms / server ms'] = `${Math.round(remoteDeploy)} / ${Math.round(serverDeploy)} = ${(remoteDeploy / serverDeploy).toFixed(2)}x`;
    figures['status: operator ms / server ms'] = `${Math.round(remoteStatus)} / ${Math.round(serverStatus)} = ${(remoteStatus / serverStatus).toFixed(2)}x`;
    console.log('remote figures', figures);
    expect(remoteStatus).toBeGreaterThan(0);
  });
});
