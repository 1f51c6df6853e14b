// Issue 16: the final error line, the console's step lines, the run log and
// --json mask the secrets of env_files (the environment's and a service's) and
// of literals in the stack, not only the process environment's. A pre-deploy
// hook fails printing them; the deploy stops before compose starts anything.
import { describe, it, expect, afterAll } from 'vitest';
import path from 'node:path';
import { mkdirSync, mkdtempSync, writeFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { ROOT, lifeops } from '../helpers.js';

const SECRETS = ['sk_live_service_envfile_secret_1234', 'env-envfile-secret-5678', 'literal-token-in-stack-4711'];
const base = path.join(ROOT, '.tmp-tests');
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(path.join(base, 'gpredact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('env_file secrets in a failing command', () => {
  it('are masked on stderr, in the run log and in history --json', async () => {
    writeFileSync(path.join(dir, 'stack.yaml'), `name: gpredact
services:
  web:
    image: lifeops/placeholder:local
    env_file: [app.env]
    environment: { API_TOKEN: ${SECRETS[2]} }
deploy:
  hooks:
    pre_deploy: ["cat app.env local.env; echo ${SECRETS[2]}; exit 3"]
environments:
  local: { env_file: local.env }
`);
    writeFileSync(path.join(dir, 'app.env'), `STRIPE_API_KEY=${SECRETS[0]}\nPLAIN_SETTING=visible-value\n`);
    writeFileSync(path.join(dir, 'local.env'), `DB_PASSWORD=${SECRETS[1]}\n`);
    const file = path.join(dir, 'stack.yaml');
    const stateDir = path.join(dir, 'state');
    const r = await lifeops(['-f', file, '--state-dir', stateDir, 'deploy', 'local', '--yes', '--json']);
    expect(r.exitCode).toBe(1);
    const errorLine = r.stderr.split('\n').find((l) => l.startsWith('lifeops: error:'));
    expect(errorLine).toBe('lifeops: error: pre-deploy hook failed (exit 3): cat app.env local.env; echo ***; exit 3');
    // the hook's output follows the error line: masked where secret, the rest as printed
    expect(r.stderr).toContain('STRIPE_API_KEY=***\nPLAIN_SETTING=visible-value\nDB_PASSWORD=***\n***');
    const logs = readdirSync(path.join(stateDir, 'logs')).map((f) => readFileSync(path.join(stateDir, 'logs', f), 'utf8')).join('\n');
    expect(logs).toContain('hook pre-deploy 1/1');
    expect(logs).toContain('visible-value');
    const h = await lifeops(['-f', file, '--state-dir', stateDir, 'history', '--env', 'local', '--json']);
    expect(h.exitCode, h.stderr).toBe(0);
    const records = JSON.parse(h.stdout) as { outcome?: string; error?: string }[];
    const failed = records.find((x) => x.outcome === 'failed');
    expect(failed?.error).toContain('pre-deploy hook failed (exit 3)');
    for (const s of SECRETS) {
      expect(r.stdout + r.stderr, s).not.toContain(s);
      expect(logs, s).not.toContain(s);
      expect(h.stdout, s).not.toContain(s);
    }
  });
});
