// The benchmarks cannot rot: each script in bench/ that is cheap enough runs
// once here on tiny data (BENCH_SMOKE=1) and must complete and print its
// ratio line against the raw tool. The figures of a smoke run mean nothing
// (tiny data, a loaded machine) and are not asserted on; `make bench` runs the
// real thing. Left out here for their cost, smoke-runnable by hand with
// `BENCH_SMOKE=1 bash bench/NAME.sh`: seed-memory.sh (the AI-IA stack with its
// monitoring). dr.sh and pitr.sh have no smoke mode yet (a 1 GB database, a
// pgbench run): make bench runs them in full.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, lifeops, demoCopy } from '../helpers.js';

const stack = demoCopy('bsm', 18394);
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

/** One bench script in smoke mode: its exit code and everything it printed (kept in .tmp-tests/bench-smoke/NAME.log). */
async function bench(name: string, ...argv: string[]) {
  const r = await execa('bash', [`bench/${name}`, ...argv], { cwd: ROOT, reject: false, all: true, timeout: 400_000, env: { BENCH_SMOKE: '1', LIFEOPS_COMPOSE: process.env.LIFEOPS_COMPOSE ?? 'v2' } });
  const out = String(r.all);
  const dir = path.join(ROOT, '.tmp-tests', 'bench-smoke');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.log`), out);
  // the tail names the failure (the whole output is in the log file)
  return { code: r.exitCode, out: out.length > 4000 ? `…${out.slice(-4000)}` : out };
}
const num = String.raw`\d+(?:\.\d+)?`;

describe('bench/ smoke runs (real engine, tiny data)', () => {
  it('load-size.sh: every shape loads, with its ratio to the raw YAML parser; the 20 MB file is refused', async () => {
    const r = await bench('load-size.sh');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/ratio load\/raw/);
    expect(r.out.split('\n').filter((l) => new RegExp(`^\\S.*\\s${num}\\s*$`).test(l) && !l.startsWith('stack file')).length, r.out).toBeGreaterThanOrEqual(2);
    expect(r.out).toMatch(/^20 MB .*default limit/m);
  }, 120_000);

  it("pgclient.sh: status's Postgres client (pgwire) and pg, each loaded, connected and queried, against psql, with the ratios", async () => {
    const r = await bench('pgclient.sh');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`^median of 1 \\(Postgres 15, host all all all scram-sha-256\\): psql -c 'select 1' ${num} ms`, 'm'));
    expect(r.out).toMatch(new RegExp(`^ratios: pgwire ${num}x psql, pg ${num}x psql, pg chunk ${num}x psql$`, 'm'));
    expect(r.out).toMatch(new RegExp(`^pg over pgwire: process ${num}x, in-process ${num}x \\(\\+-?${num} ms\\); pg chunk over pgwire: process ${num}x, in-process ${num}x`, 'm'));
  }, 120_000);

  describe('on a deployed demo copy', () => {
    beforeAll(async () => {
      const d = await lifeops(args('deploy', 'local'));
      if (d.exitCode !== 0) throw new Error(`deploy failed:\n${d.stderr}`);
    }, 400_000);
    afterAll(async () => {
      await lifeops(args('down', '--volumes', '--yes', '--skip-backup'));
    }, 200_000);

    it('status.sh: lifeops status against compose ps, with the ratio', async () => {
      const r = await bench('status.sh', stack.file, stack.stateDir, 'local');
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(new RegExp(`^median of 1 on bsm-local: lifeops status ${num} ms`, 'm'));
      expect(r.out).toMatch(new RegExp(`^ratios: status ${num}x v2 ps`, 'm'));
    }, 120_000);

    it('startup.sh: --version, --help and status against node and compose ps, with the ratios', async () => {
      const r = await bench('startup.sh', stack.file, stack.stateDir, 'local');
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(new RegExp(`^ratios vs node -e '': --version ${num}x, --help ${num}x$`, 'm'));
      expect(r.out).toMatch(new RegExp(`^ratios vs compose ps: --version ${num}x, status ${num}x$`, 'm'));
    }, 120_000);
  });

  it('backup.sh: 2,000 rows backed up and restored by lifeops and by pg_dump/pg_restore, with the ratios', async () => {
    const r = await bench('backup.sh');
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/ERR_MODULE_NOT_FOUND/);
    expect(r.out).toMatch(new RegExp(`^backup: whole \`lifeops backup\`\\s+${num}s\\s+${num}s\\s+${num}x`, 'm'));
    expect(r.out).toMatch(new RegExp(`^restore: restore step \\(run log\\)\\s+${num}s\\s+${num}s\\s+${num}x`, 'm'));
  }, 400_000);

  it('deploy.sh: a version change under load by lifeops and by build + compose up, one round on v2, with the ratio', async () => {
    const r = await bench('deploy.sh');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`^compose v2 round 1: lifeops deploy v1 ${num} ms \\(\\d+/\\d+ failed\\); build \\+ up -d --no-deps web worker ${num} ms \\(\\d+/\\d+ failed\\)$`, 'm'));
    expect(r.out).toMatch(new RegExp(`^compose v2: median of 1: lifeops deploy ${num} ms, build \\+ compose up ${num} ms, ratio ${num}x$`, 'm'));
  }, 400_000);

  it('prune.sh: three deploys with a layer of their own, then a prune, with what the data root gained', async () => {
    const r = await bench('prune.sh');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^after 3 deploys \(app layer 1 MB per version, keep_releases 1\): 3 app images; prune removed 2 \(lifeops\/demo-app:p1, lifeops\/demo-app:p2\)/m);
    expect(r.out).toMatch(new RegExp(`^data root free space: [+-]${num} MB \\(statfs before/after\\); lifeops prune ${num} ms$`, 'm'));
  }, 400_000);

  it('unchanged.sh: an unchanged deploy against compose up -d, one pair on v2, with the ratio', async () => {
    const r = await bench('unchanged.sh');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`^compose v2: unchanged deploy, median of 1: lifeops ${num} ms .* ratio ${num}x$`, 'm'));
  }, 400_000);
});
