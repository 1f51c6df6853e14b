// DockerClient.exec straight on the Engine API (no dockerode): exit code,
// stdout and stderr demultiplexed, output of many frames intact, and a
// deadline that holds while output keeps trickling. Real engine, one
// throwaway container from the test bed's base image, no network. Then the
// endpoint probe that health checks run through that exec.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa, execaSync } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DockerClient, type ContainerState } from '../../src/clients/docker.js';
import { httpCheck, insideProber } from '../../src/flows/health.js';

const NAME = `lifeops-exec-test-${process.pid}`;
let id = '';
const docker = new DockerClient();

beforeAll(async () => {
  await execa('docker', ['rm', '-f', NAME], { reject: false });
  id = (await execa('docker', ['run', '-d', '--name', NAME, '--network', 'none', '--init', 'lifeops/base:bookworm', 'sleep', '300'])).stdout.trim();
});
afterAll(async () => {
  await execa('docker', ['rm', '-f', NAME], { reject: false });
});

describe('DockerClient.exec on the Engine API', () => {
  it('returns the exit code and both streams', async () => {
    const r = await docker.exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.exitCode).toBe(3);
    expect(r.output.split('\n').filter(Boolean).sort()).toEqual(['err', 'out']);
    expect((await docker.exec(id, ['true'])).exitCode).toBe(0);
  });

  it('keeps a 3 MB output byte for byte (many stream frames)', async () => {
    const r = await docker.exec(id, ['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" "x"; echo; echo done'], 30_000);
    expect(r.exitCode).toBe(0);
    expect(r.output.length).toBe(3_000_000 + '\ndone\n'.length);
    expect(createHash('sha256').update(r.output).digest('hex')).toBe(createHash('sha256').update('x'.repeat(3_000_000) + '\ndone\n').digest('hex'));
  });

  it('gives up at the deadline even while output keeps coming', async () => {
    const t0 = Date.now();
    await expect(docker.exec(id, ['sh', '-c', 'while true; do echo tick; sleep 0.1; done'], 1500)).rejects.toThrow(/timed out after 1500 ms/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('names an unknown container', async () => {
    await expect(docker.exec('no-such-container-lifeops', ['true'])).rejects.toThrow(/no-such-container-lifeops.*404|No such container/);
  });
});

describe('endpoint probe from inside a container (one exec for every path)', () => {
  // The probe's script runs here under sh, as `docker exec` would run it, against
  // a python http.server on 127.0.0.1: once with curl on the PATH, once with only
  // python3 (images without curl or wget).
  let server: ReturnType<typeof execa> | undefined;
  let port = 0;
  const binDir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-probe-bin-'));
  beforeAll(async () => {
    // the interpreter itself, not a version manager's shim script
    symlinkSync(execaSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))']).stdout.trim(), path.join(binDir, 'python3'));
    symlinkSync(execaSync('sh', ['-c', 'command -v tail']).stdout.trim(), path.join(binDir, 'tail'));
    server = execa('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', binDir], { reject: false });
    port = await new Promise<number>((resolve) => server!.stdout!.on('data', (d: Buffer) => { const m = /port (\d+)/.exec(d.toString()); if (m) resolve(Number(m[1])); }));
  });
  afterAll(() => {
    server?.kill();
    rmSync(binDir, { recursive: true, force: true });
  });
  const localExec = (pathEnv: string) => ({
    exec: async (_id: string, cmd: string[]) => {
      const r = await execa(cmd[0] === 'sh' ? '/bin/sh' : cmd[0], cmd.slice(1), { reject: false, env: { PATH: pathEnv }, extendEnv: false, all: true });
      return { exitCode: r.exitCode ?? -1, output: String(r.all) };
    },
  }) as unknown as DockerClient;
  const c = { id: 'local', name: 'local' } as ContainerState;

  for (const [client, pathEnv] of [['curl', process.env.PATH!], ['python3 only', binDir]] as const) {
    it(`answers each path with ${client}: 2xx is ok, a 404 and a closed port give the client's reason`, async () => {
      const results = await insideProber(localExec(pathEnv), port, ['/', '/python3', '/missing'])(c);
      expect(results.get('/')).toBeUndefined();
      expect(results.get('/python3')).toBeUndefined();
      expect(results.get('/missing')).toMatch(/404/);
      const closed = await insideProber(localExec(pathEnv), 1, ['/'])(c);
      expect(closed.get('/')).toMatch(client === 'curl' ? /Failed to connect|Couldn't connect/ : /Connection refused/);
    });
  }

  it('asks each container once however many checks want its answers', async () => {
    let execs = 0;
    const counting = { exec: async (...a: [string, string[]]) => (execs++, localExec(process.env.PATH!).exec(...a)) } as unknown as DockerClient;
    const probe = insideProber(counting, port, ['/', '/python3']);
    await Promise.all([httpCheck(counting, { ...c, ports: {} }, port, '/', 8000, probe), httpCheck(counting, { ...c, ports: {} }, port, '/python3', 8000, probe)]);
    expect(execs).toBe(1);
  });
});
