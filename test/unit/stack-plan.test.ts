// lifeops plan: AI-IA's numbers equal seed 004's budget table; a hard budget
// fails with exit 1; the diff against the last deployed render.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { writeRendered } from '../../src/flows/render.js';
import { buildPlan, diffLines, diffRenders, formatPlan } from '../../src/plan/stack-plan.js';
import { ROOT, lifeops } from '../helpers.js';

const SECRETS = {
  POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789abcdef',
  DJANGO_SECRET_KEY: 'dummy-django-secret-key-0123456789abcdef0123',
  DJANGO_STAGING_SECRET_KEY: 'dummy-django-staging-key-0123456789abcdef012',
};
const AIIA = path.join(ROOT, 'stacks', 'aiia.yaml');

function aiiaPlan(text?: string, previous?: ReturnType<typeof renderAll>) {
  let file = AIIA;
  if (text !== undefined) {
    file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lifeops-plan-')), 'aiia.yaml');
    writeFileSync(file, text);
  }
  const stack = loadStack({ file, env: 'production', processEnv: SECRETS });
  const files = renderAll(stack, { renderDir: '/tmp/plan-render' });
  return { plan: buildPlan(stack, files, previous), files, stack };
}

describe('plan', () => {
  it('AI-IA: per-service limits and reservations equal the seed 004 tables', () => {
    const { plan } = aiiaPlan();
    const row = (s: string) => plan.services.find((x) => x.service === s)!;
    // seed 004 "Memory Budget (512MB Total)" and "CPU Allocation (2 vCPU Total)"
    const table: Record<string, [number, number, number, number]> = {
      postgresql: [200, 150, 1.0, 0.5],
      pgbouncer: [30, 20, 0.2, 0.1],
      redis: [50, 40, 0.3, 0.2],
      web_prod: [150, 120, 1.0, 0.5],
      web_staging: [100, 80, 1.0, 0.3],
      nginx: [50, 40, 0.5, 0.2],
    };
    for (const [svc, [ml, mr, cl, cr]] of Object.entries(table)) {
      expect([row(svc).memory_limit_mib, row(svc).memory_reservation_mib, row(svc).cpus_limit, row(svc).cpus_reservation], svc).toEqual([ml, mr, cl, cr]);
    }
    expect(plan.totals.memory_limit_mib).toBe(580); // seed 004: Total 580MB
    expect(plan.totals.memory_reservation_mib).toBe(450); // 450-512MB (without the 62MB buffer reserve)
    expect(plan.totals.cpus_limit).toBe(4); // 4.0 vs 2 cores: oversubscribed
    expect(plan.totals.cpus_reservation).toBe(1.8); // 1.8 (90%)
    expect(plan.budget).toMatchObject({ memory_mib: 512, cpus: 2, hard: false, cpus_reservation_share: 0.9 });
    expect(plan.warnings.join('\n')).toMatch(/memory limits total 580M, over the budget of 512M/);
    expect(plan.warnings.join('\n')).toMatch(/CPU limits total 4, over the budget of 2/);
    expect(plan.errors).toEqual([]);
    expect(plan.ports).toEqual([{ service: 'nginx', mapping: '127.0.0.1:8082:80' }]);
    expect(plan.domains.map((d) => d.name)).toEqual(['eduaiia.com', 'staging.eduaiia.com', 'devstatus.eduaiia.com']);
    expect(plan.changes).toBeNull();
    const text = formatPlan(plan).join('\n');
    expect(text).toMatch(/TOTAL\s+580M\s+450M\s+4\s+1\.8/);
  });

  it('a hard budget the limits exceed is an error', () => {
    const text = readFileSync(AIIA, 'utf8').replace(/hard: false/, 'hard: true');
    const { plan } = aiiaPlan(text);
    expect(plan.errors.join('\n')).toMatch(/memory limits total 580M, over the budget of 512M .*the budget is hard/);
  });

  it('reservations over the budget are an error even when the budget is soft', () => {
    const text = readFileSync(AIIA, 'utf8').replace('memory: 512M                                     # 004: 512MB RAM host', 'memory: 256M');
    const { plan } = aiiaPlan(text);
    expect(plan.errors.join('\n')).toMatch(/memory reservations 450M exceed the budget 256M/);
  });

  it('diff against the previous render: modified, added and removed files', () => {
    const { files } = aiiaPlan();
    const previous = files
      .filter((f) => f.path !== 'logging.conf')
      .map((f) => (f.path === 'redis/redis.conf' ? { ...f, content: f.content.replace('maxmemory 52428800', 'maxmemory 41943040') } : f));
    previous.push({ path: 'old.conf', content: 'gone\n' });
    const changes = diffRenders(previous, files);
    expect(changes.map((c) => [c.path, c.change])).toEqual([
      ['logging.conf', 'added'],
      ['old.conf', 'removed'],
      ['redis/redis.conf', 'modified'],
    ]);
    expect(changes[2].lines).toEqual(expect.arrayContaining(['-maxmemory 41943040', '+maxmemory 52428800']));
    expect(diffRenders(files, files)).toEqual([]);
    expect(diffLines('a\nb\nc', 'a\nB\nc')).toEqual(['@@ -2 +2 @@', '-b', '+B']);
  });

  it('CLI: plan --json, then against a deployed render, and exit 1 over a hard budget', async () => {
    const state = mkdtempSync(path.join(os.tmpdir(), 'lifeops-plan-state-'));
    const r = await lifeops(['-f', 'stacks/aiia.yaml', '--state-dir', state, 'plan', '--env', 'production', '--json'], { env: SECRETS });
    expect(r.exitCode).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.totals.memory_limit_mib).toBe(580);
    expect(plan.changes).toBeNull();
    for (const v of Object.values(SECRETS)) expect(r.stdout).not.toContain(v);

    // "Deploy" a render that differs in one file, then plan again.
    const stack = loadStack({ file: AIIA, env: 'production', processEnv: SECRETS });
    const dir = path.join(state, 'render', 'production');
    const files = renderAll(stack, { renderDir: dir }).map((f) => (f.path === 'nginx/nginx.conf' ? { ...f, content: f.content.replace('rate=200r/s', 'rate=100r/s') } : f));
    writeRendered(files, dir);
    const r2 = await lifeops(['-f', 'stacks/aiia.yaml', '--state-dir', state, 'plan', '--env', 'production'], { env: SECRETS });
    expect(r2.exitCode).toBe(0);
    expect(r2.stdout).toMatch(/modified nginx\/nginx\.conf/);
    expect(r2.stdout).toMatch(/-.*rate=100r\/s/);
    expect(r2.stdout).toMatch(/\+.*rate=200r\/s/);

    const hardDir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-plan-hard-'));
    const hard = path.join(hardDir, 'aiia.yaml');
    writeFileSync(hard, readFileSync(AIIA, 'utf8').replace(/hard: false/, 'hard: true'));
    const r3 = await lifeops(['-f', hard, '--state-dir', path.join(hardDir, 'state'), 'plan', '--env', 'production'], { env: SECRETS });
    expect(r3.exitCode).toBe(1);
    expect(r3.stdout).toMatch(/error: memory limits total 580M/);
  });
});
