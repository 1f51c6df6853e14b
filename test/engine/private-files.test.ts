// Private files on a real deploy and backup of the demo stack: whatever the
// umask the CLI runs under, every folder in the state dir is 0700 and every
// file 0600 (backups, release archives, run logs, the ledger, locks, marks),
// except what containers mount from the render folder, which their non-root
// users must be able to read. The CLI is spawned through `sh -c 'umask …'`.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, ROOT, demoCopy, lifeops } from '../helpers.js';

const PORT = 18731;
const stack = demoCopy('prv', PORT);
const base = ['-f', stack.file, '--state-dir', stack.stateDir];

/** the real CLI under a given umask (octal text, e.g. "022") */
async function under(umask: string, args: string[]) {
  const r = await execa('sh', ['-c', `umask ${umask} && exec node "$0" "$@"`, BIN, ...base, ...args], { reject: false, cwd: ROOT, env: { CI: '1' }, timeout: 300_000 });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** every path under the state dir (itself as '.'), with its permission bits */
function walk(root: string): { rel: string; dir: boolean; mode: number }[] {
  const out: { rel: string; dir: boolean; mode: number }[] = [];
  const visit = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    out.push({ rel, dir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) visit(path.join(abs, n), rel === '.' ? n : `${rel}/${n}`);
  };
  visit(root, '.');
  return out;
}

/**
 * What each path is meant to be. Below render/<env>/ containers mount files
 * and folders (postgresql.conf read by the postgres user, ./nginx as a
 * folder, ...): files 0644, folders 0755; the list lifeops keeps there is its
 * own (0600), and secret files are 0600 in a 0700 folder. Everything else 0700/0600.
 */
function intended(rel: string, dir: boolean): number {
  const inner = /^render\/[^/]+\/(.+)$/.exec(rel)?.[1];
  if (inner === undefined) return dir ? 0o700 : 0o600;
  if (inner === '.lifeops-rendered.json') return 0o600;
  if (inner.startsWith('alertmanager/secrets')) return dir ? 0o700 : 0o600;
  return dir ? 0o755 : 0o644;
}

const wrong = (root: string) =>
  walk(root)
    .filter((p) => p.mode !== intended(p.rel, p.dir))
    .map((p) => `${p.rel}: ${p.mode.toString(8)}, meant ${intended(p.rel, p.dir).toString(8)}`);

let id = '';

beforeAll(async () => {
  await lifeops([...base, 'down', '--volumes', '--yes', '--skip-backup', '--skip-backup']); // a fixed project name: start from no data
  // the strictest usual umask: the files containers mount must still be readable by their users
  const d = await under('077', ['deploy', 'local']);
  if (d.exitCode !== 0) throw new Error(`deploy under umask 077 failed:\n${d.stderr}`);
}, 600_000);

afterAll(async () => {
  await lifeops([...base, 'down', '--volumes', '--yes', '--skip-backup', '--skip-backup']);
}, 120_000);

describe('private files', () => {
  it('a deploy under umask 077 serves: postgres, redis, gunicorn and nginx read the rendered files they mount', async () => {
    const r = await fetch(`http://127.0.0.1:${PORT}/`, { signal: AbortSignal.timeout(10_000) });
    expect(r.status).toBe(200);
    const render = path.join(stack.stateDir, 'render', 'local');
    for (const f of ['postgres/postgresql.conf', 'redis/redis.conf', 'gunicorn/web.conf.py', 'nginx/nginx.conf']) expect((lstatSync(path.join(render, f)).mode & 0o777).toString(8), f).toBe('644');
    expect((lstatSync(path.join(render, 'nginx')).mode & 0o777).toString(8)).toBe('755');
    expect(wrong(stack.stateDir)).toEqual([]);
  });

  it('a backup and its verification under umask 022: every file 0600 and folder 0700, the render folder as containers need it', async () => {
    const b = await under('022', ['backup', '--json']);
    expect(b.exitCode, b.stderr).toBe(0);
    id = JSON.parse(b.stdout).id;
    const v = await under('022', ['backups', 'verify', id]);
    expect(v.exitCode, v.stderr).toBe(0);
    const all = walk(stack.stateDir);
    // the walk saw what the issue names: dumps, globals, the Redis archive, the manifest, release archives, logs, the ledger
    const rels = all.map((p) => p.rel);
    for (const want of [`backups/${id}/postgres/demo.dump`, `backups/${id}/postgres/globals.sql`, `backups/${id}/redis/dump.rdb.tar`, `backups/${id}/manifest.json`, `backups/${id}/release/docker-compose.yml`, `backups/.verified/${id}`, 'releases.jsonl']) {
      expect(rels).toContain(want);
    }
    expect(rels.some((r) => /^releases\/local\/[^/]+\/docker-compose\.yml$/.test(r))).toBe(true);
    expect(rels.filter((r) => /^logs\/.+\.jsonl$/.test(r)).length).toBeGreaterThanOrEqual(3);
    expect(wrong(stack.stateDir)).toEqual([]);
    // and the release copied into the backup is private too, though the render folder it came from is not
    expect(all.find((p) => p.rel === `backups/${id}/release/postgres/postgresql.conf`)?.mode.toString(8)).toBe('600');
  });

  it('a state dir left looser (an older version, or by hand) is tightened by the next run, even under umask 000', async () => {
    expect(id).not.toBe('');
    const loosen: [string, number][] = [
      ['.', 0o755],
      ['backups', 0o755],
      [`backups/${id}`, 0o755],
      [`backups/${id}/postgres`, 0o755],
      [`backups/${id}/postgres/demo.dump`, 0o644],
      [`backups/${id}/manifest.json`, 0o644],
      ['releases.jsonl', 0o644],
      ['logs', 0o777],
    ];
    for (const [rel, mode] of loosen) chmodSync(path.join(stack.stateDir, rel), mode);
    expect(wrong(stack.stateDir).length).toBe(loosen.length);
    const v = await under('000', ['backups', 'verify', id]);
    expect(v.exitCode, v.stderr).toBe(0);
    expect(wrong(stack.stateDir)).toEqual([]);
  });
});
