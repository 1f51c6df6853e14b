// DockerClient.exec straight on the Engine API (no dockerode): exit code,
// stdout and stderr demultiplexed, output of many frames intact, and a
// deadline that holds while output keeps trickling. Real engine, one
// throwaway container from the test bed's base image, no network.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { DockerClient } from '../src/clients/docker.js';

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
