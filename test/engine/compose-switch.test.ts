// Switching the compose implementation under a running deployment (v1 -> v2
// and back). The two hash configurations differently, so every container
// looks changed: the plan must say why, web must roll, the datastores must be
// recreated one at a time with their volumes (data intact), and after the
// switch a second deploy must keep every container.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { lifeops, demoCopy, demoProject, loadThroughFront } from '../helpers.js';

const PORT = 18670;
const stack = demoCopy('swc', PORT);
const PROJECT = 'swc-local';
const ENV = { POSTGRES_PASSWORD: 'demo-local-password-not-secret' };
const cli = (compose: 'v1' | 'v2', ...rest: string[]) => lifeops(['-f', stack.file, '--state-dir', stack.stateDir, ...rest], { env: { ...ENV, LIFEOPS_COMPOSE: compose }, timeoutMs: 600_000 });
const { sql, tableHash } = demoProject(PROJECT);

const containers = async () => {
  const out: Record<string, { id: string; compose: string }> = {};
  const ids = (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.split('\n').filter(Boolean);
  for (const id of ids) {
    const [svc, ver] = (await execa('docker', ['inspect', '-f', '{{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "com.docker.compose.version"}}', id])).stdout.trim().split(' ');
    out[svc] = { id, compose: ver };
  }
  return out;
};


async function switchTo(compose: 'v1' | 'v2', from: string) {
  const before = await tableHash();
  let finished = false;
  const loading = loadThroughFront(PORT, () => finished, 600);
  const r = await cli(compose, 'deploy', 'local', '--skip-backup');
  finished = true;
  const seen = await loading;
  console.log(`switch to compose ${compose}: ${seen.failed} of ${seen.ok + seen.failed} requests failed`);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(new RegExp(`db\\s+recreate\\s+created by compose ${from.replace(/\./g, '\\.')}`));
  expect(r.stderr).toMatch(/web\s+roll\s+created by compose/);
  // one stateful service at a time, each healthy before the next
  expect(r.stderr.indexOf('wait for db to be healthy')).toBeLessThan(r.stderr.indexOf('compose up cache'));
  expect(await tableHash()).toBe(before);
  const now = await containers();
  for (const c of Object.values(now)) expect(c.compose.startsWith(compose === 'v2' ? '2.' : '1.')).toBe(true);
  // settled: the next deploy on the same implementation keeps every container
  const again = await cli(compose, 'deploy', 'local', '--skip-backup');
  expect(again.exitCode, again.stderr).toBe(0);
  expect(await containers()).toEqual(now);
  return seen;
}

describe('switching compose v1 <-> v2 under a running deployment (real engine)', () => {
  beforeAll(async () => {
    await cli('v1', 'down', '--volumes', '--yes', '--skip-backup');
    const r = await cli('v1', 'deploy', 'local');
    if (r.exitCode !== 0) throw new Error(`deploy on v1 failed:\n${r.stderr}`);
    await sql('CREATE TABLE items(id int PRIMARY KEY, v text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
  });
  afterAll(async () => {
    await cli('v2', 'down', '--volumes', '--yes', '--skip-backup');
  });

  it('v1 -> v2: detected and named in the plan, web rolled, datastores recreated one by one with their data', async () => {
    const v1 = Object.values(await containers())[0].compose;
    await switchTo('v2', v1);
  }, 900_000);

  it('v2 -> v1: the same, back', async () => {
    const v2 = Object.values(await containers())[0].compose;
    await switchTo('v1', v2);
  }, 900_000);
});
