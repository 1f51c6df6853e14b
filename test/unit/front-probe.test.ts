// The front probe cannot be fooled: the deploy's smoke test and status's front
// check require the mark the rendered nginx front sets on what an upstream
// answered. A placeholder answering 200 to everything, or the front's own
// page, fails. Real HTTP on a loopback port: a server that answers like the
// placeholder image (200, no mark), and one that answers like the rendered
// nginx front in front of the app (the mark on proxied paths only).
import { describe, it, expect, afterEach } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { UPSTREAM_MARKER_HEADER } from '../../src/render/nginx.js';
import { frontSmoke } from '../../src/flows/deploy-execute.js';
import { frontCheck } from '../../src/plan/status.js';
import { httpGetLoopback } from '../../src/clients/http.js';
import type { ContainerState } from '../../src/clients/docker.js';
import { ROOT } from '../helpers.js';

const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-probe-test' } });
let server: http.Server | undefined;
afterEach(() => server?.close());

/** A loopback server answering every request with `answer(path)`. */
async function serve(answer: (p: string) => { status: number; headers?: Record<string, string>; body: string }): Promise<number> {
  server = http.createServer((req, res) => {
    const a = answer(req.url ?? '/');
    res.writeHead(a.status, a.headers).end(a.body);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

const frontOn = (port: number): ContainerState[] => [{ id: 'f', name: 'demo-local-front-1', service: 'front', number: 1, image: 'lifeops/nginx:local', imageId: 'x', state: 'running', health: 'healthy', restarts: 0, ports: { 80: port }, labels: {} }];

describe('the smoke test through the front', () => {
  it('fails on a placeholder that answers 200 to everything', async () => {
    const port = await serve(() => ({ status: 200, body: 'ok' }));
    await expect(frontSmoke(stack, frontOn(port))).rejects.toThrow(/GET \/ready answered 200 without the X-Lifeops-Upstream-Status header .*not the app/);
  });

  it('passes when the front answers /health itself and marks /ready as an upstream answer', async () => {
    const port = await serve((p) => (p === '/health' ? { status: 200, body: 'ok\n' } : { status: 200, headers: { [UPSTREAM_MARKER_HEADER]: '200' }, body: '{"status":"ready"}' }));
    expect(await frontSmoke(stack, frontOn(port))).toMatch(/\/health and \/ready answered 200 .*from the app/);
  });

  it('fails on a marked answer that is an error (the app is not ready)', async () => {
    const port = await serve(() => ({ status: 503, headers: { [UPSTREAM_MARKER_HEADER]: '503' }, body: 'unready' }));
    await expect(frontSmoke(stack, frontOn(port))).rejects.toThrow(/answered 503/);
  });
});

describe("status's front check", () => {
  it('a 200 without the mark is CRITICAL; with it OK; a Traefik front (no mark to tell) keeps the placeholder warning', async () => {
    const port = await serve(() => ({ status: 200, body: 'ok' }));
    const r = await httpGetLoopback({ port, path: '/ready', timeoutMs: 5000 });
    const fact = { url: `http://127.0.0.1:${port}/ready`, status: r.status, duration_ms: 1, from_app: Boolean(r.headers[UPSTREAM_MARKER_HEADER.toLowerCase()]) };
    expect(frontCheck(fact)).toMatchObject({ level: 'CRITICAL', message: expect.stringMatching(/not from the app/) });
    expect(frontCheck({ ...fact, from_app: true }).level).toBe('OK');
    expect(frontCheck({ url: 'u', status: 200, duration_ms: 1, placeholder: 'lifeops/placeholder:local' }).level).toBe('WARNING');
  });
});

describe('the rendered nginx front sets the mark', () => {
  it('server-wide, from $upstream_status (empty, so left out, on what nginx answers itself)', () => {
    const site = renderAll(stack, { renderDir: '/tmp/lifeops-probe' }).find((f) => f.path === 'nginx/conf.d/localhost.conf')!.content;
    expect(site).toContain(`add_header ${UPSTREAM_MARKER_HEADER} $upstream_status always;`);
  });
});
