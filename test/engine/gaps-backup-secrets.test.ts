// Issue 16: the secrets Alertmanager reads (Slack webhook URL, PagerDuty
// routing key) never land in a backup, encrypted or not: they live in
// alertmanager/secrets/ beside the rendered files (mode 0600), which backups
// leave out, and the rendered alertmanager.yml only names those files. With
// encryption on, no file of the backup folder holds a secret in plain text;
// rollback to that backup writes the secret files again from the environment
// and Alertmanager runs with them. Demo copy "gpbak", front 19220, Prometheus 19221.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import path from 'node:path';
import { readdirSync, readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { lifeops, demoCopy, at } from '../helpers.js';

const SLACK = 'https://hooks.slack.com/services/T0GP/B0GP/gp-secret-webhook-token-7731';
const ROUTING = 'gp-pd-routing-key-secret-0123456789';
const KEY = 'gp-backup-passphrase-5d1f0c2e';
const ENV = { SLACK_WEBHOOK_URL: SLACK, PD_ROUTING_KEY: ROUTING, GP_BACKUP_KEY: KEY };
const stack = demoCopy('gpbak', 19220, (d) => {
  const mon = at(d, 'environments.monitored.monitoring');
  mon.prometheus_port = 19221;
  mon.alertmanager = { slack_webhook_url: '${SLACK_WEBHOOK_URL}', pagerduty_routing_key: '${PD_ROUTING_KEY}' };
  at(d, 'backup').encryption_key_env = 'GP_BACKUP_KEY';
  // Postgres's first start took over 120 s under other engineers' load here
  // (its 3 s healthcheck timed out 58 times in a row): slack bounds, still bounded
  for (const svc of Object.values(at(d, 'services') as Record<string, Record<string, any>>)) {
    svc.health_timeout = '600s';
    if (svc.healthcheck) Object.assign(svc.healthcheck, { timeout: '20s', retries: 100, start_period: '300s' });
  }
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];
// a shared 2-core machine under other engineers' tests can take minutes per step: generous bounds, still bounded
const cli = (...rest: string[]) => lifeops(args(...rest), { env: ENV, timeoutMs: 900_000 });

function walk(root: string): string[] {
  return readdirSync(root).flatMap((n) => (statSync(path.join(root, n)).isDirectory() ? walk(path.join(root, n)) : [path.join(root, n)]));
}

async function alertmanagerSecret(file: string): Promise<string> {
  const ps = await execa('docker', ['ps', '-q', '--filter', 'label=com.docker.compose.project=gpbak-monitored', '--filter', 'label=com.docker.compose.service=alertmanager']);
  const id = ps.stdout.trim().split('\n')[0];
  return (await execa('docker', ['exec', id, 'cat', `/etc/alertmanager/secrets/${file}`])).stdout;
}

describe('Alertmanager secrets and encrypted backups', () => {
  beforeAll(async () => {
    await cli('down', '--volumes', '--yes', '--skip-backup', '--env', 'monitored');
    const r = await cli('deploy', 'monitored');
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
  }, 1_000_000);
  afterAll(async () => {
    await cli('down', '--volumes', '--yes', '--skip-backup', '--env', 'monitored');
    rmSync(stack.dir, { recursive: true, force: true });
  }, 300_000);

  it('the backup folder holds no secret in plain text; rollback writes the secret files again', async () => {
    expect(await alertmanagerSecret('slack_webhook_url')).toBe(SLACK);
    const b = await cli('backup', '--env', 'monitored', '--json');
    expect(b.exitCode, b.stderr).toBe(0);
    const { id, dir } = JSON.parse(b.stdout) as { id: string; dir: string };
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.encrypted).toBe(true);
    const all = walk(dir);
    // the release is in the backup (rendered alertmanager.yml among it), its secret files are not
    expect(all.some((f) => f.endsWith(path.join('alertmanager', 'alertmanager.yml')))).toBe(true);
    expect(all.some((f) => f.includes(path.join('alertmanager', 'secrets')))).toBe(false);
    for (const f of all) {
      const bytes = readFileSync(f);
      for (const s of [SLACK, ROUTING, KEY, 'gp-secret-webhook-token-7731']) expect(bytes.includes(Buffer.from(s)), `${s} in ${f}`).toBe(false);
    }
    // the same with grep over the folder, as an operator would check
    const g = await execa('grep', ['-rlaF', '-e', 'gp-secret-webhook-token-7731', '-e', ROUTING, dir], { reject: false });
    expect(g.stdout).toBe('');
    expect(g.exitCode).toBe(1);

    // lose the secret files (the folder stays: the running container has it bind-mounted),
    // then roll back to the backup: they come back from the environment
    const renderDir = path.join(stack.stateDir, 'render', 'monitored');
    for (const f of ['slack_webhook_url', 'pagerduty_routing_key']) rmSync(path.join(renderDir, 'alertmanager', 'secrets', f));
    const rb = await cli('rollback', id, '--env', 'monitored', '--yes');
    expect(rb.exitCode, rb.stderr).toBe(0);
    const secretFile = path.join(renderDir, 'alertmanager', 'secrets', 'slack_webhook_url');
    expect(existsSync(secretFile)).toBe(true);
    expect((statSync(secretFile).mode & 0o777).toString(8)).toBe('600');
    expect(await alertmanagerSecret('slack_webhook_url')).toBe(SLACK);
    expect(await alertmanagerSecret('pagerduty_routing_key')).toBe(ROUTING);
    const st = await cli('status', '--env', 'monitored', '--json');
    const report = JSON.parse(st.stdout) as { services: { service: string; state: string }[] };
    expect(report.services.find((s) => s.service === 'alertmanager')?.state).toBe('running');
    for (const out of [b.stdout, b.stderr, rb.stdout, rb.stderr, st.stdout]) expect(out).not.toContain('gp-secret-webhook-token-7731');
  }, 2_000_000);
});
