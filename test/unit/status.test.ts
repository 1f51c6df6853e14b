// `lifeops status` without an engine: the pure evaluation (plan/status.ts)
// driven by hand-written facts and a fixed clock through OK -> WARNING ->
// CRITICAL, thresholds from the stack file (and per environment), and the
// two formatters checked by their real consumers: every line of the Nagios
// output parsed with the monitoring-plugins guideline's grammar, and the
// Prometheus text fed to `promtool check metrics`. Goldens fix the exact text.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { statusSchema } from '../../src/config/schema.js';
import { loadStack } from '../../src/config/load.js';
import { evaluateStatus, LEVEL_EXIT, type StatusFacts, type Level } from '../../src/plan/status.js';
import { formatNagios } from '../../src/cli/status-nagios.js';
import { formatPrometheus } from '../../src/cli/status-prometheus.js';
import { ROOT } from '../helpers.js';
import { parsePluginOutput } from '../fixtures/nagios-grammar.js';

const NOW = '2026-11-30T12:00:00.000Z';
const H = 3_600_000;
const D = 24 * H;
const before = (ms: number) => new Date(Date.parse(NOW) - ms).toISOString();
const after = (ms: number) => new Date(Date.parse(NOW) + ms).toISOString();
const DEFAULTS = statusSchema.parse({});

/** A healthy environment: every fact fresh. Each test changes one thing. */
function okFacts(): StatusFacts {
  const svc = (service: string, health = 'healthy') => ({ service, level: 'OK' as Level, state: 'running', health, containers: 1, expected: 1, uptime_s: 7200, image: `img/${service}`, restarts: 0, message: 'ok' });
  return {
    project: 'demo-local',
    env: 'local',
    now: NOW,
    duration_ms: 123,
    engine: { ok: true, duration_ms: 9 },
    services: [svc('db'), svc('cache'), svc('web'), svc('worker', 'none'), svc('front')],
    probes: [
      { check: 'web ready /ready', level: 'OK', message: '1 container answered (published)', duration_ms: 12 },
      { check: 'postgres SELECT 1', level: 'OK', message: 'via 127.0.0.1:5432', duration_ms: 20 },
    ],
    previous_run: before(60_000),
    due_since: before(30 * D),
    backups: { count: 3, newest: { id: '20261130T020000Z-aaaaaa', time: before(10 * H), size: 1_048_576 }, newest_verified: { id: '20261129T020000Z-bbbbbb', time: before(34 * H), verified_at: before(30 * H) }, duration_ms: 2 },
    drill: { time: before(30 * H), ok: true, backup: '20261129T020000Z-bbbbbb' },
    release: { kind: 'deploy', outcome: 'success', time: before(3 * D), version: '1.4.2', run_id: '20261127T120000Z-cccccc' },
    lock: { held: false },
    disks: [
      { label: 'backups', path: '/srv/backups', free_bytes: 80e9, size_bytes: 200e9, duration_ms: 1 },
      { label: 'docker', path: '/var/lib/docker', free_bytes: 80e9, size_bytes: 200e9, duration_ms: 1 },
    ],
    tls: [{ domain: 'example.com', file: '/etc/letsencrypt/live/example.com/fullchain.pem', not_after: after(60 * D), duration_ms: 30 }],
    front: { url: 'http://127.0.0.1:8080/ready (Host: example.com)', status: 200, duration_ms: 4 },
  };
}

const check = (f: StatusFacts, name: string, t = DEFAULTS) => {
  const c = evaluateStatus(f, t).checks.find((x) => x.check === name);
  if (!c) throw new Error(`no check ${name}`);
  return c;
};

describe('status evaluation (fixed clock, injected facts)', () => {
  it('a healthy environment is OK, exit 0', () => {
    const r = evaluateStatus(okFacts(), DEFAULTS);
    expect(r.checks.filter((c) => c.level !== 'OK')).toEqual([]);
    expect(r.level).toBe('OK');
    expect(LEVEL_EXIT[r.level]).toBe(0);
    expect(r.summary).toBe('demo-local: 5/5 services up, 11 checks OK');
  });

  it('backup freshness moves OK -> WARNING -> CRITICAL at the default 26h / 50h', () => {
    const at = (ageMs: number) => {
      const f = okFacts();
      f.backups.newest!.time = before(ageMs);
      return [check(f, 'backup freshness').level, evaluateStatus(f, DEFAULTS).level];
    };
    expect(at(25 * H)).toEqual(['OK', 'OK']);
    expect(at(26 * H)).toEqual(['WARNING', 'WARNING']);
    expect(at(49 * H)).toEqual(['WARNING', 'WARNING']);
    expect(at(50 * H)).toEqual(['CRITICAL', 'CRITICAL']);
  });

  it("backup freshness follows the stack's thresholds", () => {
    const t = statusSchema.parse({ backup: { warn: '2h', crit: '6h' } });
    const f = okFacts();
    f.backups.newest!.time = before(3 * H);
    expect(check(f, 'backup freshness', t).level).toBe('WARNING');
    f.backups.newest!.time = before(7 * H);
    expect(check(f, 'backup freshness', t).level).toBe('CRITICAL');
    expect(check(f, 'backup freshness', t).message).toMatch(/taken 7h00m ago \(warn 2h00m, crit 6h00m\)/);
  });

  it('no backup yet: due since the first deploy (a fresh stack is OK, a 3-day-old one CRITICAL)', () => {
    const f = okFacts();
    delete f.backups.newest;
    delete f.backups.newest_verified;
    f.backups.count = 0;
    f.due_since = before(1 * H);
    expect(check(f, 'backup freshness').level).toBe('OK');
    f.due_since = before(30 * H);
    expect(check(f, 'backup freshness').level).toBe('WARNING');
    f.due_since = before(3 * D);
    expect(check(f, 'backup freshness')).toMatchObject({ level: 'CRITICAL', message: expect.stringContaining('no backup yet') });
    delete f.due_since;
    expect(check(f, 'backup freshness').level).toBe('WARNING');
  });

  it('the newest verified backup has its own, longer thresholds (8d / 15d)', () => {
    const f = okFacts();
    f.backups.newest_verified!.time = before(7 * D);
    expect(check(f, 'verified backup').level).toBe('OK');
    f.backups.newest_verified!.time = before(8 * D);
    expect(check(f, 'verified backup').level).toBe('WARNING');
    f.backups.newest_verified!.time = before(15 * D);
    expect(check(f, 'verified backup').level).toBe('CRITICAL');
  });

  it('restore drills: OK -> WARNING -> CRITICAL with age; a failed drill warns at once', () => {
    const f = okFacts();
    const level = () => check(f, 'restore drill').level;
    f.drill = { time: before(2 * D), ok: true };
    expect(level()).toBe('OK');
    f.drill = { time: before(9 * D), ok: true };
    expect(level()).toBe('WARNING');
    f.drill = { time: before(16 * D), ok: true };
    expect(level()).toBe('CRITICAL');
    f.drill = { time: before(1 * H), ok: false, backup: 'b1', error: 'row counts differ' };
    expect(check(f, 'restore drill')).toMatchObject({ level: 'WARNING', message: expect.stringMatching(/FAILED 1h00m ago on backup b1: row counts differ/) });
    f.drill = { time: before(16 * D), ok: false };
    expect(level()).toBe('CRITICAL');
    delete f.drill;
    f.due_since = before(2 * D);
    expect(level()).toBe('OK');
    f.due_since = before(20 * D);
    expect(level()).toBe('CRITICAL');
  });

  it('a last deploy that failed, was rolled back, or a rollback, is a WARNING', () => {
    const f = okFacts();
    f.release = { ...f.release!, outcome: 'failed' };
    expect(check(f, 'last deploy')).toMatchObject({ level: 'WARNING', message: expect.stringContaining('lifeops logs --run 20261127T120000Z-cccccc') });
    f.release = { ...f.release!, outcome: 'rolled-back' };
    expect(check(f, 'last deploy').level).toBe('WARNING');
    f.release = { ...f.release!, kind: 'rollback', outcome: 'success' };
    expect(check(f, 'last deploy').level).toBe('WARNING');
    delete f.release;
    expect(check(f, 'last deploy').level).toBe('OK');
  });

  it('a lock held too long warns, then is critical; a stale one warns', () => {
    const f = okFacts();
    f.lock = { held: true, since: before(10 * 60_000), holder: 'pid 1 on h' };
    expect(check(f, 'lock').level).toBe('OK');
    f.lock.since = before(2 * H);
    expect(check(f, 'lock').level).toBe('WARNING');
    f.lock.since = before(5 * H);
    expect(check(f, 'lock').level).toBe('CRITICAL');
    f.lock = { held: true, since: before(60_000), stale: true, holder: 'pid 1 on h' };
    expect(check(f, 'lock')).toMatchObject({ level: 'WARNING', message: expect.stringContaining('stale') });
  });

  it('free disk: below 15% warns, below 5% is critical; an unreadable one is UNKNOWN', () => {
    const f = okFacts();
    f.disks[1] = { ...f.disks[1], free_bytes: 20e9 };
    expect(check(f, 'disk docker').level).toBe('WARNING');
    f.disks[1] = { ...f.disks[1], free_bytes: 5e9 };
    expect(check(f, 'disk docker').level).toBe('CRITICAL');
    f.disks[0] = { label: 'backups', path: '/x', error: 'EACCES', duration_ms: 0 };
    expect(check(f, 'disk backups').level).toBe('UNKNOWN');
  });

  it('TLS: 21 days warn, 7 critical, expired critical; an unreadable file is UNKNOWN', () => {
    const f = okFacts();
    const at = (ms: number) => ((f.tls[0].not_after = after(ms)), check(f, 'tls example.com').level);
    expect(at(30 * D)).toBe('OK');
    expect(at(20 * D)).toBe('WARNING');
    expect(at(6 * D)).toBe('CRITICAL');
    expect(at(-1 * D)).toBe('CRITICAL');
    f.tls[0] = { domain: 'example.com', file: '/x', error: 'No such file', duration_ms: 1 };
    expect(check(f, 'tls example.com').level).toBe('UNKNOWN');
  });

  it('what users see: no answer or a non-2xx through the front is CRITICAL even with every container healthy', () => {
    const f = okFacts();
    f.front = { url: 'http://127.0.0.1:8080/ready (Host: x)', error: 'connect ECONNREFUSED 127.0.0.1:8080', duration_ms: 1 };
    const r = evaluateStatus(f, DEFAULTS);
    expect(r.services.every((s) => s.level === 'OK')).toBe(true);
    expect(r.level).toBe('CRITICAL');
    expect(r.summary).toMatch(/^demo-local: CRITICAL front readiness: .*ECONNREFUSED/);
    f.front = { url: 'u', status: 502, duration_ms: 1 };
    expect(check(f, 'front readiness').level).toBe('CRITICAL');
    f.front = { url: 'u', skipped: 'no published port', duration_ms: 0 };
    expect(check(f, 'front readiness').level).toBe('OK');
  });

  it('restarts that grew since the last run make the service a WARNING', () => {
    const f = okFacts();
    f.services![2] = { ...f.services![2], restarts: 4, restarts_grown: 2 };
    const r = evaluateStatus(f, DEFAULTS);
    expect(r.services[2]).toMatchObject({ level: 'WARNING', message: 'restarted 2 times since the last status run' });
    expect(r.level).toBe('WARNING');
  });

  it('a stopped engine: UNKNOWN, while the local checks still report', () => {
    const f = okFacts();
    f.engine = { ok: false, error: 'the Docker engine did not answer: connect ENOENT /var/run/docker.sock', duration_ms: 3 };
    delete f.services;
    f.probes = [];
    delete f.front;
    f.tls = [];
    f.disks = f.disks.slice(0, 1);
    const r = evaluateStatus(f, DEFAULTS);
    expect(r.level).toBe('UNKNOWN');
    expect(LEVEL_EXIT[r.level]).toBe(3);
    expect(r.checks.map((c) => c.check)).toEqual(['docker engine', 'backup freshness', 'verified backup', 'restore drill', 'last deploy', 'lock', 'disk backups']);
  });
});

describe('status thresholds in the stack file', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('defaults, a base setting and a per-environment override', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-status-'));
    dirs.push(dir);
    const doc = parse(readFileSync(path.join(ROOT, 'stacks', 'demo.yaml'), 'utf8'));
    doc.status = { backup: { warn: '30h' } };
    doc.environments.production = { ...doc.environments.production, env_file: 'demo.local.env', status: { backup: { crit: '3d' }, drill: { warn: '2d' } } };
    writeFileSync(path.join(dir, 'stack.yaml'), stringify(doc));
    copyFileSync(path.join(ROOT, 'stacks', 'demo.local.env'), path.join(dir, 'demo.local.env'));
    const local = loadStack({ file: path.join(dir, 'stack.yaml'), env: 'local', processEnv: {} });
    expect(local.status.backup).toEqual({ warn: '30h', crit: '50h' });
    expect(local.status.drill).toEqual({ warn: '8d', crit: '15d' });
    const prod = loadStack({ file: path.join(dir, 'stack.yaml'), env: 'production', processEnv: {} });
    expect(prod.status.backup).toEqual({ warn: '30h', crit: '3d' });
    expect(prod.status.drill).toEqual({ warn: '2d', crit: '15d' });
    expect(prod.status.timeout).toBe('10s');
  });

  it('rejects unknown keys and bad durations, naming the key', () => {
    expect(() => statusSchema.parse({ backup: { warn: '26 hours' } })).toThrow(/duration/);
    expect(() => statusSchema.parse({ backups: {} })).toThrow(/backups/);
  });
});

function promtool(text: string): { status: number | null; out: string } {
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Variants covering every branch the formatters have: all OK, everything wrong, no engine, nothing yet. */
function scenarios(): [string, StatusFacts][] {
  const bad = okFacts();
  bad.services![0] = { ...bad.services![0], level: 'CRITICAL', state: 'exited', health: 'none', containers: 0, message: 'not running (exited, exit 137) | piped' };
  bad.services![2] = { ...bad.services![2], restarts: 7, restarts_grown: 3 };
  bad.probes.push({ check: 'redis PING', level: 'CRITICAL', message: 'timed out\nsecond line', duration_ms: 8000 });
  bad.front = { url: 'http://127.0.0.1:8080/ready (Host: example.com)', error: 'connect ECONNREFUSED 127.0.0.1:8080', duration_ms: 2 };
  bad.backups.newest!.time = before(60 * H);
  bad.drill = { time: before(2 * H), ok: false, backup: 'b "quoted" \\ one', error: 'pg_restore: error' };
  bad.release = { kind: 'deploy', outcome: 'rolled-back', time: before(H), version: '2.0.0', run_id: 'r1' };
  bad.lock = { held: true, since: before(5 * H), holder: 'pid 9 on h' };
  bad.disks[0] = { ...bad.disks[0], free_bytes: 1e9 };
  bad.tls = [
    { domain: 'example.com', file: 'a', not_after: before(2 * D), duration_ms: 1 },
    { domain: 'www.example.com', file: 'b', error: 'No such file or directory', duration_ms: 1 },
  ];
  const down = okFacts();
  down.engine = { ok: false, error: 'the Docker engine did not answer: connect ENOENT /var/run/docker.sock', duration_ms: 1 };
  delete down.services;
  down.probes = [];
  delete down.front;
  down.tls = [];
  const fresh = okFacts();
  fresh.backups = { count: 0, duration_ms: 0 };
  delete fresh.drill;
  delete fresh.release;
  delete fresh.due_since;
  fresh.tls = [];
  fresh.front = { url: 'x', skipped: 'no published port', duration_ms: 0 };
  return [['ok', okFacts()], ['bad', bad], ['engine-down', down], ['fresh', fresh]];
}

describe('status --format nagios', () => {
  it.each(scenarios())('%s: every line parses with the guideline grammar; level and exit agree', (name, facts) => {
    const r = evaluateStatus(facts, DEFAULTS);
    const out = formatNagios(r);
    const p = parsePluginOutput(out);
    expect(p.level).toBe(r.level);
    expect(p.long.length).toBe(r.services.length + r.checks.length);
    const labels = p.perf.map((x) => x.label);
    expect(new Set(labels).size, 'perfdata labels are unique').toBe(labels.length);
    expect(labels).toEqual(expect.arrayContaining(['backup_age', 'verified_backup_age', 'drill_age', 'lock_held', 'disk_free_backups', 'time']));
  });

  it('the grammar parser itself rejects what the guideline forbids', () => {
    expect(parsePluginOutput("OK: fine | 'a b'=1s;2;3;0;10 c=U;5:;@1:2 'it''s'=0.5%\n").perf.map((p) => p.label)).toEqual(['a b', 'c', "it's"]);
    for (const bad of ['fine | a=1\n', 'OK fine\n', 'OK: a | b | c=1\n', 'OK: x | a=1;;;;;\n', 'OK: x | a=1xyz\n', 'OK: x | a=Us\n', 'OK: x | a=1;1:2:3\n', 'OK: x\nlong | more\n', 'OK: x']) {
      expect(() => parsePluginOutput(bad), bad).toThrow();
    }
  });

  it('perfdata carries the thresholds: ages alert above, free bytes and TLS days below', () => {
    const perf = parsePluginOutput(formatNagios(evaluateStatus(okFacts(), DEFAULTS))).perf;
    const by = Object.fromEntries(perf.map((x) => [x.label, x]));
    expect(by.backup_age).toMatchObject({ value: '36000', uom: 's', warn: '93600', crit: '180000', min: '0' });
    expect(by.disk_free_docker).toMatchObject({ value: '80000000000', uom: 'B', warn: '30000000000:', crit: '10000000000:', min: '0', max: '200000000000' });
    expect(by['tls_days_example.com']).toMatchObject({ value: '60', warn: '21:', crit: '7:' });
    expect(by.restarts_web).toMatchObject({ value: '0', uom: 'c' });
  });

  it('golden output (ok and bad)', async () => {
    for (const [name, facts] of scenarios().filter(([n]) => n === 'ok' || n === 'bad')) {
      await expect(formatNagios(evaluateStatus(facts, DEFAULTS))).toMatchFileSnapshot(`../golden/status/${name}.nagios.txt`);
    }
  });
});

describe('status --format prometheus', () => {
  it.each(scenarios())('%s: promtool check metrics accepts it', (name, facts) => {
    const text = formatPrometheus(evaluateStatus(facts, DEFAULTS));
    const r = promtool(text);
    expect(r.out, text).toBe('');
    expect(r.status).toBe(0);
  });

  it('no timestamps, HELP and TYPE for every family, the same bytes twice', () => {
    const r = evaluateStatus(scenarios()[1][1], DEFAULTS);
    const text = formatPrometheus(r);
    expect(formatPrometheus(r)).toBe(text);
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const s of samples) expect(s, 'one value, no timestamp').toMatch(/^[a-z_]+\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\} -?[0-9.e+]+$|^[a-z_]+\{.*\} (?:NaN|[+-]Inf)$/);
    const families = new Set(samples.map((s) => s.split('{')[0]));
    for (const f of families) {
      expect(text).toContain(`# HELP ${f} `);
      expect(text).toContain(`# TYPE ${f} gauge`);
    }
    for (const f of ['lifeops_service_up', 'lifeops_service_health', 'lifeops_service_restarts', 'lifeops_check_status', 'lifeops_check_duration_seconds', 'lifeops_backup_last_age_seconds', 'lifeops_backup_last_size_bytes', 'lifeops_backup_verified_last_age_seconds', 'lifeops_drill_last_success', 'lifeops_drill_last_age_seconds', 'lifeops_deploy_last_success', 'lifeops_deploy_last_timestamp_seconds', 'lifeops_lock_held', 'lifeops_lock_held_seconds', 'lifeops_tls_cert_expiry_seconds', 'lifeops_disk_free_bytes']) {
      expect(families, f).toContain(f);
    }
    expect(text).toContain('lifeops_status{project="demo-local",env="local"} 2');
    expect(text).toContain('lifeops_drill_last_success{project="demo-local",env="local"} 0');
    expect(text).toContain('lifeops_lock_held_seconds{project="demo-local",env="local"} 18000');
  });

  it('a fact status could not get is left out, not made up', () => {
    const text = formatPrometheus(evaluateStatus(scenarios()[3][1], DEFAULTS));
    expect(text).not.toContain('lifeops_backup_last_age_seconds');
    expect(text).not.toContain('lifeops_drill_last_success');
    expect(text).toContain('lifeops_backups{project="demo-local",env="local"} 0');
  });

  it('golden output (bad)', async () => {
    await expect(formatPrometheus(evaluateStatus(scenarios()[1][1], DEFAULTS))).toMatchFileSnapshot('../golden/status/bad.prom');
  });
});

describe('the front port status requests through', () => {
  it('is the host port the stack publishes on loopback (or all addresses), not a random one', async () => {
    const { configuredHostPort } = await import('../../src/plan/status.js');
    expect(configuredHostPort(['127.0.0.1:8080:80'], 80)).toBe(8080);
    expect(configuredHostPort(['8081:80/tcp'], 80)).toBe(8081);
    expect(configuredHostPort(['0.0.0.0:8082:80'], 80)).toBe(8082);
    expect(configuredHostPort(['127.0.0.1::80'], 80)).toBeUndefined();
    expect(configuredHostPort(['10.0.0.5:8080:80'], 80)).toBeUndefined();
    expect(configuredHostPort(['127.0.0.1:8443:443', '80'], 80)).toBeUndefined();
  });
});
