// `lifeops status` for monitoring, on a deployed demo copy: the real
// `--format nagios` output parsed with the plugin guideline's grammar, a
// restore drill recorded by `backups verify --latest`, the `--textfile`
// written for node_exporter and checked by promtool, and what users see:
// with the front detached from its network (container still running), the
// readiness request through its published 127.0.0.1 port fails and status
// is CRITICAL within its deadline; reconnected, OK again.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { lifeops, demoCopy } from '../helpers.js';
import { parsePluginOutput as parseFull, perfByLabel } from '../fixtures/nagios-grammar.js';

/** The test helper's execa strips the final newline the plugin output ends with. */
const parsePluginOutput = (stdout: string) => parseFull(`${stdout}\n`);

const PORT = 18640;
const PROJECT = 'stm-local';
const stack = demoCopy('stm', PORT);
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

async function frontContainer(): Promise<string> {
  const r = await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=front']);
  return r.stdout.trim().split('\n')[0];
}

async function networksOf(id: string): Promise<string[]> {
  const r = await execa('docker', ['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', id]);
  return r.stdout.trim().split(/\s+/).filter(Boolean);
}

/** status --format nagios until `want` (bounded: 20 tries, 1 s apart). */
async function nagiosUntil(want: (level: string) => boolean): Promise<{ exitCode: number; stdout: string }> {
  let last = { exitCode: -1, stdout: '' };
  for (let i = 0; i < 20; i++) {
    last = await lifeops(args('status', '--format', 'nagios'), { timeoutMs: 60_000 });
    if (want(parsePluginOutput(last.stdout).level)) return last;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return last;
}

describe('status for monitoring (real engine)', () => {
  beforeAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'));
    const r = await lifeops(args('deploy', 'local'));
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
  });

  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'));
  });

  it('--format nagios right after a deploy: OK, exit 0, every line in the guideline grammar', async () => {
    const r = await nagiosUntil((l) => l === 'OK');
    const out = parsePluginOutput(r.stdout);
    expect(out.level, r.stdout).toBe('OK');
    expect(r.exitCode).toBe(0);
    const perf = perfByLabel(out);
    expect(perf.services_running.value).toBe('5');
    expect(perf.lock_held.value).toBe('0');
    expect(Number(perf.disk_free_docker.value)).toBeGreaterThan(0);
    expect(out.long).toEqual(expect.arrayContaining([expect.stringMatching(/^OK front readiness: http:\/\/127\.0\.0\.1:18640\/ready \(Host: localhost\) answered 200$/)]));
    expect(r.stdout).not.toContain('demo-local-password-not-secret');
  });

  it('a backup and `backups verify --latest` (the restore drill) show up in status', async () => {
    const b = await lifeops(args('backup'));
    expect(b.exitCode, b.stderr).toBe(0);
    const v = await lifeops(args('backups', 'verify', '--latest'));
    expect(v.exitCode, v.stderr).toBe(0);
    const drill = JSON.parse(readFileSync(path.join(stack.stateDir, 'drills', 'local.json'), 'utf8'));
    expect(drill).toMatchObject({ ok: true, backup: expect.any(String) });
    const r = await lifeops(args('status', '--format', 'nagios'));
    const out = parsePluginOutput(r.stdout);
    const perf = perfByLabel(out);
    expect(perf.drill_ok.value).toBe('1');
    expect(Number(perf.backup_age.value)).toBeLessThan(600);
    expect(Number(perf.verified_backup_age.value)).toBeLessThan(600);
    expect(out.long).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^OK restore drill: last restore drill passed .* on backup ${drill.backup}`))]));
  });

  it('--textfile writes lifeops-<project>.prom by rename (no temporary left) and promtool accepts it', async () => {
    const dir = mkdtempSync(path.join(stack.dir, 'textfile-'));
    // a loaded shared machine can make the app's /ready (Postgres and Redis within
    // its own timeout) answer 503 for a moment: that is a true CRITICAL, so ask again (bounded)
    let r = await lifeops(args('status', '--textfile', dir, '--quiet'));
    for (let i = 0; i < 10 && r.exitCode !== 0; i++) {
      await new Promise((res) => setTimeout(res, 1000));
      r = await lifeops(args('status', '--textfile', dir, '--quiet'));
    }
    expect(r.exitCode, `${r.stderr}${r.stdout}`).toBe(0);
    expect(r.stdout).toBe('');
    expect(readdirSync(dir)).toEqual([`lifeops-${PROJECT}.prom`]);
    const file = path.join(dir, `lifeops-${PROJECT}.prom`);
    const check = await execa('/usr/bin/promtool', ['check', 'metrics'], { inputFile: file, reject: false });
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(check.exitCode).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(`lifeops_status{project="${PROJECT}",env="local"} 0`);
    expect(text).toContain(`lifeops_service_up{project="${PROJECT}",env="local",service="web"} 1`);
    expect(text).toContain(`lifeops_front_ready{project="${PROJECT}",env="local"} 1`);
    expect(text).toContain(`lifeops_drill_last_success{project="${PROJECT}",env="local"} 1`);
    expect(text).toMatch(/^lifeops_backup_last_size_bytes\{[^}]*\} [1-9]\d*$/m);
    expect(text).not.toMatch(/\} \S+ \d{10,}$/m); // no timestamps
    expect(text).not.toContain('demo-local-password-not-secret');
  });

  it('the front detached from its network: CRITICAL through the front within the deadline, though its container runs; OK once reconnected', async () => {
    const front = await frontContainer();
    const nets = await networksOf(front);
    expect(nets.length).toBeGreaterThan(0);
    for (const n of nets) await execa('docker', ['network', 'disconnect', n, front]);
    try {
      const t0 = Date.now();
      const r = await lifeops(args('status', '--format', 'nagios'), { timeoutMs: 60_000 });
      const took = Date.now() - t0;
      const out = parsePluginOutput(r.stdout);
      expect(out.level, r.stdout).toBe('CRITICAL');
      expect(r.exitCode).toBe(2);
      expect(out.text).toMatch(/front readiness/);
      expect(out.long).toEqual(expect.arrayContaining([expect.stringMatching(/^CRITICAL front readiness: http:\/\/127\.0\.0\.1:18640\/ready .*no answer through the front/)]));
      const frontService = out.long.find((l) => / service front: /.test(l));
      expect(frontService, 'the front container itself is still running').toMatch(/service front: running/);
      expect(took, 'status answers within its 10 s deadline (plus start-up)').toBeLessThan(20_000);
      const p = await lifeops(args('status', '--format', 'prometheus'));
      expect(p.stdout).toContain(`lifeops_front_ready{project="${PROJECT}",env="local"} 0`);
    } finally {
      for (const n of nets) await execa('docker', ['network', 'connect', n, front], { reject: false });
    }
    const again = await nagiosUntil((l) => l === 'OK');
    expect(parsePluginOutput(again.stdout).level, again.stdout).toBe('OK');
    expect(again.exitCode).toBe(0);
  });

  it('a stack file that cannot be loaded is UNKNOWN (exit 3) in plugin format', async () => {
    const r = await lifeops(['-f', path.join(stack.dir, 'missing.yaml'), 'status', '--format', 'nagios']);
    expect(r.exitCode).toBe(3);
    expect(parsePluginOutput(r.stdout).level).toBe('UNKNOWN');
    expect(existsSync(path.join(stack.dir, 'missing.yaml'))).toBe(false);
  });
});
