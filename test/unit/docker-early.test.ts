// DockerClient.startEarly: status starts its last run's engine calls while it
// loads the stack, and the identical calls of the run take those answers.
// Played against a loopback HTTP server answering the Engine API paths status
// uses (DOCKER_HOST=tcp://, so the client speaks HTTP to it as to the
// socket); the engine lane runs the same against the real engine
// (test/engine/status-monitoring.test.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DockerClient } from '../../src/clients/docker.js';

const seen: string[] = [];
let holdExec = false;
const held: http.ServerResponse[] = [];
let closedEarly = 0;
const inspect = (id: string) => ({
  Id: id,
  Name: `/p-web-1`,
  Image: 'sha256:img',
  Created: '2026-11-30T00:00:00Z',
  RestartCount: 0,
  Config: { Image: 'web:1', Labels: { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'web', 'com.docker.compose.container-number': '1' } },
  State: { Status: 'running', StartedAt: '2026-11-30T00:00:00Z', ExitCode: 0, Health: { Status: 'healthy' } },
  NetworkSettings: { Ports: {} },
});
const server = http.createServer((req, res) => {
  seen.push(`${req.method} ${req.url!.split('?')[0]}`);
  req.resume();
  req.on('end', () => {
    const url = req.url!;
    const json = (v: unknown) => res.end(JSON.stringify(v));
    if (url.startsWith('/containers/json')) return json([{ Id: 'c1' }]);
    if (/^\/containers\/c1\/json/.test(url)) return json(inspect('c1'));
    if (/^\/containers\/c1\/exec/.test(url)) return json({ Id: `e${seen.length}` });
    if (/^\/exec\/[^/]+\/start/.test(url)) {
      if (holdExec) {
        res.on('close', () => closedEarly++); // the client went away before an answer
        return void held.push(res);
      }
      const out = Buffer.from('ok 0\n');
      const head = Buffer.from([1, 0, 0, 0, 0, 0, 0, out.length]);
      return res.end(Buffer.concat([head, out]));
    }
    if (/^\/exec\/[^/]+\/json/.test(url)) return json({ ExitCode: 0 });
    res.statusCode = 404;
    res.end('{}');
  });
});
let saved: string | undefined;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  if (saved === undefined) delete process.env.DOCKER_HOST;
  else process.env.DOCKER_HOST = saved;
  server.closeAllConnections();
  server.close();
});

const execs = () => seen.filter((s) => /\/exec$/.test(s)).length;
/** Poll until `ready` holds (at most 10 s): the loopback server's view lags the client under load, so no fixed pause. */
async function until(ready: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !ready() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
}

describe('DockerClient.startEarly', () => {
  it('lets the identical list and exec take the answers started early, once each', async () => {
    seen.length = 0;
    const d = new DockerClient();
    d.startEarly('p', [{ id: 'c1', cmd: ['sh', '-c', 'probe'] }]);
    await until(() => execs() >= 1 && seen.includes('GET /containers/json'));
    expect(execs()).toBe(1);
    const lists = seen.filter((s) => s === 'GET /containers/json').length;
    const cs = await d.projectContainers('p');
    expect(cs.map((c) => [c.id, c.service, c.health])).toEqual([['c1', 'web', 'healthy']]);
    expect(seen.filter((s) => s === 'GET /containers/json').length).toBe(lists); // no second list
    expect(await d.exec('c1', ['sh', '-c', 'probe'])).toEqual({ exitCode: 0, output: 'ok 0\n' });
    expect(execs()).toBe(1); // taken, not asked again
    await d.exec('c1', ['sh', '-c', 'probe']);
    expect(execs()).toBe(2); // taken once: the next identical call asks the engine
    d.dropEarly();
  });

  it('asks again when the command differs, and records what was asked', async () => {
    seen.length = 0;
    const d = new DockerClient();
    d.execsAsked = [];
    d.startEarly('p', [{ id: 'c1', cmd: ['old'] }]);
    await d.exec('c1', ['new']);
    expect(execs()).toBe(2);
    expect(d.execsAsked).toEqual([{ id: 'c1', cmd: ['new'] }]);
    d.dropEarly();
  });

  it("holds a taken answer to the taker's own timeout, and drops what nobody took", async () => {
    seen.length = 0;
    holdExec = true;
    try {
      const d = new DockerClient();
      // resolves once both probes run in their container, long before their (held) answers
      await d.startEarly(undefined, [{ id: 'c1', cmd: ['hang'] }, { id: 'c1', cmd: ['unused'] }], 30_000);
      await until(() => held.length >= 2);
      await expect(d.exec('c1', ['hang'], 200)).rejects.toThrow('timed out after 200 ms: hang');
      expect(held.length).toBe(2);
      expect(closedEarly).toBe(0);
      d.dropEarly();
      await until(() => closedEarly >= 2);
      expect(closedEarly).toBe(2); // both early requests aborted: nothing keeps the process waiting
    } finally {
      holdExec = false;
      for (const r of held.splice(0)) r.destroy();
    }
  });
});
