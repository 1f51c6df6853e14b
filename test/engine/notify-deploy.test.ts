// Deploy notifications, real: a local HTTP server receives what a successful
// and a failed deploy send (Slack + webhook), while a webhook answering 500 and
// one that never answers only produce warnings; no secret reaches a body,
// stderr or the run log.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { lifeops, demoCopy, at } from '../helpers.js';
interface Received {
  method: string;
  url: string;
  contentType: string;
  body: string;
}

const PORT = 18531;
const SECRETS = {
  POSTGRES_PASSWORD: 'demo-local-password-not-secret', // the value in demo.local.env
  NOTIFY_TOKEN: 'ntf-token-7f3a9c2e51d04b86',
};
const SLACK_PATH = '/services/T0NTF/B0NTF/slack-path-secret-4d1e8a';

const stack = demoCopy('ntf', PORT, (d) => {
  at(d, 'deploy').hooks = {
    // a real pre-deploy failure whose output carries secrets (it reaches the error, so the notification)
    pre_deploy: ['if [ -n "$NTF_FAIL" ]; then echo "cannot deploy: password $POSTGRES_PASSWORD token $NOTIFY_TOKEN" >&2; exit 3; fi'],
  };
  at(d, 'deploy').notifications = [
    { type: 'slack', url: '${SLACK_WEBHOOK_URL}' },
    { type: 'webhook', url: 'http://127.0.0.1:${NTF_PORT}/hook?token=${NOTIFY_TOKEN}' },
    { type: 'webhook', url: 'http://127.0.0.1:${NTF_PORT}/broken' },
    { type: 'webhook', url: 'http://127.0.0.1:${NTF_PORT}/hang' },
  ];
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

let server: http.Server;
let received: Received[] = [];
let env: Record<string, string>;

const take = () => {
  const r = received;
  received = [];
  return r;
};
const byPath = (rs: Received[], p: string) => rs.filter((r) => r.url.split('?')[0] === p);
const runLog = (runId: string) => readFileSync(path.join(stack.stateDir, 'logs', `${runId}.jsonl`), 'utf8');
const notifyInfo = (log: string) =>
  log
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: string; event: string; detail?: { type: string; host: string; status?: number; error?: string } })
    .filter((e) => e.step === 'notify' && e.event === 'info')
    .map((e) => e.detail!);
const history = async () => JSON.parse((await lifeops(args('history', '--json'), { env })).stdout) as { run_id: string; version: string; outcome: string }[];

function expectNoSecret(where: string, text: string) {
  for (const [name, value] of Object.entries({ ...SECRETS, SLACK_PATH })) expect(text.includes(value), `${name} in ${where}`).toBe(false);
}

describe('deploy notifications (real engine, local HTTP server)', () => {
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') });
        if (req.url === '/hang') return; // never answers
        res.writeHead(req.url === '/broken' ? 500 : 200, { 'content-type': 'text/plain' });
        res.end(req.url === '/broken' ? 'internal error' : 'ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    env = { ...SECRETS, NTF_PORT: String(port), SLACK_WEBHOOK_URL: `http://127.0.0.1:${port}${SLACK_PATH}` };
  });
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'), { env });
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('a successful deploy notifies Slack and the webhook; a 500 and a silent webhook only warn', async () => {
    const t0 = Date.now();
    const r = await lifeops(args('deploy', 'local', '--version', 'v1'), { env, timeoutMs: 600_000 });
    console.log(`successful deploy with 4 notifications: ${Date.now() - t0} ms`);
    expect(r.exitCode, r.stderr).toBe(0);
    const port = env.NTF_PORT;
    expect(r.stderr).toContain(`warning: webhook notification to 127.0.0.1:${port} failed: answered 500`);
    expect(r.stderr).toContain(`warning: webhook notification to 127.0.0.1:${port} failed: no answer within 5s`);
    expect(r.stderr).toMatch(/deployed ntf-local version v1/);
    const runId = (await history()).at(-1)!.run_id;

    const got = take();
    expect(got.map((g) => g.url.split('?')[0]).sort()).toEqual(['/broken', '/hang', '/hook', SLACK_PATH].sort());
    for (const g of got) {
      expect(g.method).toBe('POST');
      expect(g.contentType).toBe('application/json');
    }
    const hook = byPath(got, '/hook')[0];
    expect(hook.url).toBe(`/hook?token=${SECRETS.NOTIFY_TOKEN}`); // the token reached the server, and only there
    expect(JSON.parse(hook.body)).toMatchObject({ event: 'deploy', env: 'local', project: 'ntf-local', version: 'v1', outcome: 'success', run_id: runId });
    const slack = JSON.parse(byPath(got, SLACK_PATH)[0].body) as { text: string; blocks: { type: string; text?: { text: string }; elements?: { text: string }[] }[] };
    expect(slack.text).toMatch(new RegExp(`^:white_check_mark: lifeops deploy ntf-local \\(local\\) version v1: success in \\d+s by \\S+ \\(run ${runId}\\)$`));
    expect(slack.blocks.map((b) => b.type)).toEqual(['section', 'context']);
    expect(slack.blocks[1].elements![0].text).toContain(runId);

    const log = runLog(runId);
    const host = `127.0.0.1:${port}`;
    expect(notifyInfo(log).map((n) => `${n.type} ${n.host} ${n.status ?? '-'} ${n.error ?? 'ok'}`).sort()).toEqual(
      [`slack ${host} 200 ok`, `webhook ${host} 200 ok`, `webhook ${host} 500 answered 500`, `webhook ${host} - no answer within 5s`].sort(),
    );
    for (const g of got) expectNoSecret(`the body sent to ${g.url.split('?')[0]}`, g.body);
    expectNoSecret('the run log', log);
    expectNoSecret('stderr', r.stderr + r.stdout);
  }, 600_000);

  it('a failed deploy notifies with the outcome and the masked reason', async () => {
    const r = await lifeops(args('deploy', 'local', '--version', 'v2'), { env: { ...env, NTF_FAIL: '1' }, timeoutMs: 300_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pre-deploy hook failed \(exit 3\)/);
    expect(r.stderr).toContain('cannot deploy: password *** token ***');
    const last = (await history()).at(-1)!;
    expect(last).toMatchObject({ version: 'v2', outcome: 'failed' });

    const got = take();
    const hook = JSON.parse(byPath(got, '/hook')[0].body) as Record<string, string>;
    expect(hook).toMatchObject({ event: 'deploy', env: 'local', version: 'v2', outcome: 'failed', run_id: last.run_id });
    expect(hook.message).toMatch(/pre-deploy hook failed \(exit 3\)/);
    expect(hook.message).toContain('cannot deploy: password *** token ***');
    const slack = JSON.parse(byPath(got, SLACK_PATH)[0].body) as { text: string; blocks: { text?: { text: string } }[] };
    expect(slack.text).toMatch(/^:x: lifeops deploy ntf-local \(local\) version v2: failed/);
    expect(slack.blocks[0].text!.text).toContain('cannot deploy: password *** token ***');

    for (const g of got) expectNoSecret(`the body sent to ${g.url.split('?')[0]}`, g.body);
    expectNoSecret('the run log', runLog(last.run_id));
    expectNoSecret('stderr', r.stderr + r.stdout);
  }, 300_000);
});
