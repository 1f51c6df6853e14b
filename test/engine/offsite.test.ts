// Off-site copies (backup.offsite) on a deployed demo copy (project offs-local),
// with real restic:
//   - a local-path repository: a backup is copied (restic init on first use),
//     the copy is in `restic snapshots` with its tags, `backups list` says where
//     each backup lives; the local folder deleted and restored from the copy
//     (`restic restore`) matches its manifest's checksums and verifies;
//   - the repository unreachable: the backup still succeeds locally with a
//     warning, recorded (status WARNING); the next backup copies both;
//   - `backups verify --offsite` reads a different subset on each run;
//   - a copy made but not recorded (killed run) is adopted by its tags;
//   - a backup killed -9 (with its restic) while copying: the next one copies
//     what was missed, once (the off-site case of the crash sweep);
//   - retention off-site: the copies left are exactly the local backups;
//   - the password never reaches an argv, the state dir's records or a log;
//   - the same over sftp to the off-site host (testbed/offsite-host.sh: sshd
//     in a network namespace, key-only, its host key pinned), the password
//     from a secret file; sshd stopped: the local backup still succeeds and
//     the next one copies both; a full host (a 16 KB tmpfs there) and a key it
//     refuses: the same, status WARNING.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { lifeops, demoCopy, at, demoProject, editStack, BIN, ROOT } from '../helpers.js';
import { runLogs } from './crash-kit.js';

const PASSWORD = 'offsite-test-pw-7c1e9a52d4';
const stack = demoCopy('offs', 18787, (d) => {
  at(d, 'backup').offsite = [{ name: 'disk', repository: './offsite-repo', password_env: 'OFFSITE_PASSWORD' }];
});
// the password comes from the environment's env file, as an operator would keep it
appendFileSync(path.join(stack.dir, 'demo.local.env'), `OFFSITE_PASSWORD=${PASSWORD}\n`);
const REPO = path.join(stack.dir, 'offsite-repo');
const base = ['-f', stack.file, '--state-dir', stack.stateDir];
const cli = (args: string[], env?: Record<string, string>) => lifeops([...base, ...args], { env, timeoutMs: 600_000 });
const backups = path.join(stack.stateDir, 'backups');
const { tableHash, seed } = demoProject('offs-local');
const resticEnv = { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(stack.dir, 'test-restic-cache') };

type Snap = { id: string; short_id: string; tags: string[]; paths: string[] };
async function snapshots(repo: string): Promise<Snap[]> {
  const r = await execa('restic', ['--repo', repo, 'snapshots', '--json'], { env: resticEnv });
  return JSON.parse(r.stdout) as Snap[];
}
type Listed = { id: string; local: boolean; verified?: string; offsite: { repo: string; snapshot: string; time: string }[] };
async function listed(): Promise<Listed[]> {
  const r = await cli(['backups', 'list', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Listed[];
}
async function backup(): Promise<{ id: string; stderr: string; offsite: { repo: string; copied: string[]; adopted: string[]; failed?: string }[] }> {
  const r = await cli(['backup', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return { ...(JSON.parse(r.stdout) as { id: string; offsite: never }), stderr: r.stderr };
}
const sha256 = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** Every file under dir (recursive) whose bytes hold needle. */
function filesHolding(dir: string, needle: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    if (readFileSync(p).includes(needle)) out.push(p);
  }
  return out;
}

beforeAll(async () => {
  await seed(cli);
}, 400_000);

afterAll(async () => {
  await cli(['down', '--volumes', '--yes']);
}, 120_000);

describe('off-site copies to a local-path restic repository', () => {
  let first = '';

  it('copies a backup once it is written: restic init on first use, tagged, listed with its places', async () => {
    expect(existsSync(REPO)).toBe(false);
    const b = await backup();
    first = b.id;
    const disk = b.offsite.find((o) => o.repo === 'disk')!;
    expect(disk.failed).toBeUndefined();
    // the deploy's own backup (taken before it, without a copy) is copied too
    expect(disk.copied).toContain(first);
    expect(existsSync(path.join(REPO, 'config'))).toBe(true);
    const snaps = await snapshots(REPO);
    const mine = snaps.find((s) => s.tags.includes(`backup=${first}`))!;
    expect(mine, JSON.stringify(snaps)).toBeTruthy();
    expect(mine.tags).toEqual(expect.arrayContaining(['lifeops', 'project=offs-local', 'env=local']));
    const l = await listed();
    const row = l.find((x) => x.id === first)!;
    expect(row.local).toBe(true);
    expect(row.offsite.map((o) => [o.repo, o.snapshot])).toEqual([['disk', mine.short_id]]);
    const text = await cli(['backups', 'list']);
    expect(text.stdout).toMatch(new RegExp(`^${first} .* local,disk`, 'm'));
  }, 300_000);

  it('a deleted local backup comes back from the copy with every checksum matching its manifest', async () => {
    const folder = path.join(backups, first);
    const manifestBefore = readFileSync(path.join(folder, 'manifest.json'), 'utf8');
    rmSync(folder, { recursive: true });
    const gone = await listed();
    expect(gone.find((x) => x.id === first)).toMatchObject({ local: false, offsite: [{ repo: 'disk' }] });
    const snap = gone.find((x) => x.id === first)!.offsite[0].snapshot;
    await execa('restic', ['--repo', REPO, 'restore', snap, '--target', backups], { env: resticEnv });
    const manifest = JSON.parse(readFileSync(path.join(folder, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string; size: number }[] };
    expect(readFileSync(path.join(folder, 'manifest.json'), 'utf8')).toBe(manifestBefore);
    expect(manifest.files.length).toBeGreaterThan(2);
    for (const f of manifest.files) expect(sha256(path.join(folder, f.path)), f.path).toBe(f.sha256);
    // and lifeops itself finds it whole: checksums re-read, each dump restored into a scratch database
    const v = await cli(['backups', 'verify', first]);
    expect(v.exitCode, v.stderr).toBe(0);
  }, 300_000);

  it('an unreachable repository never fails the local backup; the next backup copies both', async () => {
    // the repository's path becomes a plain file: restic can neither open nor create it there
    renameSync(REPO, `${REPO}.away`);
    writeFileSync(REPO, 'not a repository\n');
    const before = await tableHash();
    const b = await backup();
    const disk = b.offsite.find((o) => o.repo === 'disk')!;
    expect(disk.failed).toBeTruthy();
    expect(disk.copied).toEqual([]);
    expect(b.stderr).toMatch(/WARNING: off-site copy to disk failed: .*retried on the next backup run/);
    expect((await listed()).find((x) => x.id === b.id)).toMatchObject({ local: true, offsite: [] });
    const st = await cli(['status', '--json']);
    const check = (JSON.parse(st.stdout) as { checks: { check: string; level: string; message: string }[] }).checks.find((c) => c.check === 'off-site disk')!;
    expect(check.level).toBe('WARNING');
    expect(check.message).toMatch(/last copy attempt FAILED/);
    expect(await tableHash()).toBe(before);

    // back: the next backup copies the one that missed its copy, then its own
    rmSync(REPO);
    renameSync(`${REPO}.away`, REPO);
    const next = await backup();
    const d2 = next.offsite.find((o) => o.repo === 'disk')!;
    expect(d2.failed).toBeUndefined();
    expect(d2.copied).toEqual([b.id, next.id]);
    const tags = (await snapshots(REPO)).flatMap((s) => s.tags);
    expect(tags).toEqual(expect.arrayContaining([`backup=${b.id}`, `backup=${next.id}`]));
    const st2 = await cli(['status', '--json']);
    const c2 = (JSON.parse(st2.stdout) as { checks: { check: string; level: string; message: string }[] }).checks.find((c) => c.check === 'off-site disk')!;
    expect(c2.message).toContain(`newest copy ${next.id}`);
  }, 400_000);

  it('backups verify --offsite reads the next subset on each run', async () => {
    const one = await cli(['backups', 'verify', '--offsite', '--json']);
    expect(one.exitCode, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout).offsite).toMatchObject([{ repo: 'disk', ok: true, subset: '1/12' }]);
    const two = await cli(['backups', 'verify', '--offsite']);
    expect(two.exitCode, two.stderr).toBe(0);
    expect(two.stderr).toContain('off-site disk: restic check read data subset 2/12 back: no errors');
    expect(JSON.parse(readFileSync(path.join(stack.stateDir, 'offsite', 'local.json'), 'utf8')).disk).toMatchObject({ next_subset: 3, last_check: { ok: true, subset: '2/12' } });
  }, 300_000);

  it('a copy made but not recorded (a run killed after restic finished) is found by its tags, not made twice', async () => {
    const file = path.join(stack.stateDir, 'offsite', 'local.json');
    const rec = JSON.parse(readFileSync(file, 'utf8'));
    const snap = rec.disk.copies[first].snapshot;
    delete rec.disk.copies[first];
    writeFileSync(file, JSON.stringify(rec));
    const b = await backup();
    expect(b.offsite.find((o) => o.repo === 'disk')).toMatchObject({ adopted: [first], copied: [b.id] });
    expect((await snapshots(REPO)).filter((s) => s.tags.includes(`backup=${first}`)).map((s) => s.short_id)).toEqual([snap]);
    expect((await listed()).find((x) => x.id === first)!.offsite).toMatchObject([{ repo: 'disk', snapshot: snap }]);
  }, 300_000);

  it('killed -9 with its restic while copying: the next backup takes the lock over and copies what was missed, once', async () => {
    const logs = runLogs(path.join(stack.stateDir, 'logs'));
    const known = new Set(logs.names());
    // the whole process group dies (lifeops and the restic it started), as when a service's cgroup is killed
    const child = spawn('node', [BIN, ...base, 'backup'], { cwd: ROOT, detached: true, stdio: 'ignore', env: { ...process.env, CI: '1' } });
    const exited = new Promise((resolve) => child.once('close', resolve));
    let killedId = '';
    let log = '';
    for (const t0 = Date.now(); !killedId; await new Promise((r) => setTimeout(r, 5))) {
      log = logs.names().find((n) => !known.has(n)) ?? '';
      const step = log ? logs.startedSteps(log).find((x) => /^off-site disk: restic backup of /.test(x)) : undefined;
      if (step) {
        process.kill(-child.pid!, 'SIGKILL');
        killedId = step.split(' ').pop()!;
      }
      if (child.exitCode !== null || Date.now() - t0 > 240_000) throw new Error('the backup ended (or never reached its copy) before the kill');
    }
    await exited;
    // killed while the copy ran: the step has no end in the dead run's log
    expect(logs.events(log).some((e) => e.event === 'end' && /^off-site disk: restic backup of /.test(e.step))).toBe(false);
    const b = await backup();
    expect(b.stderr).toMatch(/took over the stale lock of run /);
    const disk = b.offsite.find((o) => o.repo === 'disk')!;
    expect(disk.failed).toBeUndefined();
    expect([...disk.adopted, ...disk.copied]).toEqual([killedId, b.id]);
    // exactly one copy of each, and the repository reads back clean
    const snaps = await snapshots(REPO);
    for (const id of [killedId, b.id]) expect(snaps.filter((x) => x.tags.includes(`backup=${id}`))).toHaveLength(1);
    const v = await cli(['backups', 'verify', '--offsite', '--json']);
    expect(v.exitCode, v.stderr).toBe(0);
  }, 400_000);

  it('retention is the same off-site (keep_last 5): the copies left are the local backups, the newest verified one among them', async () => {
    for (let i = 0; i < 2; i++) await backup();
    const local = (await listed()).filter((b) => b.local);
    const ids = local.map((b) => b.id).sort();
    // keep_last 5, plus the newest verified (the first one, verified above) if it is older
    expect(ids.length).toBeGreaterThanOrEqual(5);
    expect(ids).toContain(first);
    const inRepo = (await snapshots(REPO)).map((x) => x.tags.find((t) => t.startsWith('backup='))!.slice(7)).sort();
    expect(inRepo).toEqual(ids);
    // the forgotten copies are gone from the records too
    expect(Object.keys(JSON.parse(readFileSync(path.join(stack.stateDir, 'offsite', 'local.json'), 'utf8')).disk.copies).sort()).toEqual(ids);
  }, 400_000);

  it('the password is in no record, log or state file', () => {
    // the restic cache and the backups are not lifeops' records; everything else under the state dir is
    const hits = filesHolding(stack.stateDir, PASSWORD).filter((f) => !f.startsWith(backups + path.sep) && !f.includes(`${path.sep}cache${path.sep}restic${path.sep}`));
    expect(hits).toEqual([]);
  });
});

describe('off-site copies over sftp to the off-site host', () => {
  const HOST_SH = path.join(ROOT, 'testbed', 'offsite-host.sh');
  const secrets = path.join(stack.dir, 'secrets');
  const box = { url: '', kh: path.join(secrets, 'known_hosts'), id: path.join(secrets, 'offsite_ed25519') };
  const ssh = () => `sftp.command=ssh -i ${box.id} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${box.kh} root@10.236.1.2 -s sftp`;
  const boxSnapshots = async () => JSON.parse((await execa('restic', ['--repo', box.url, '--option', ssh(), 'snapshots', '--json'], { env: resticEnv })).stdout) as Snap[];
  const host = async (...args: string[]) => (await execa('bash', [HOST_SH, ...args])).stdout;

  beforeAll(async () => {
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    // a key made for this test, authorized on the off-site host; its host key pinned from what the host bed wrote
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lifeops-offsite-test', '-f', box.id]);
    const facts = Object.fromEntries((await host('--authorize', `${box.id}.pub`)).split('\n').map((l) => l.split('=')));
    copyFileSync(facts.KNOWN_HOSTS, box.kh);
    box.url = `sftp:root@${facts.ADDR}:${facts.DATA}/${path.basename(stack.dir)}`;
    // the password from a secret file this time
    writeFileSync(path.join(secrets, 'box.pw'), PASSWORD + '\n', { mode: 0o600 });
    chmodSync(path.join(secrets, 'box.pw'), 0o600);
    editStack(stack.file, (d) => {
      at(d, 'backup').offsite.push({ name: 'box', repository: box.url, password_file: 'secrets/box.pw', known_hosts: 'secrets/known_hosts', identity_file: 'secrets/offsite_ed25519' });
    });
  }, 120_000);

  const tiny = path.join('/srv/lifeops-offsite', `${path.basename(stack.dir)}-full`);
  afterAll(async () => {
    await execa('umount', [tiny], { reject: false });
    await execa('rm', ['-rf', tiny], { reject: false });
    await execa('bash', [HOST_SH], { reject: false }); // up again if a failed test left sshd stopped, so the data can go
    await execa('rm', ['-rf', path.join('/srv/lifeops-offsite', path.basename(stack.dir))], { reject: false });
  }, 60_000);

  it('copies every backup not yet there; the copy restores a deleted local backup', async () => {
    const before = (await listed()).filter((b) => b.local).map((b) => b.id);
    const b = await backup();
    const o = b.offsite.find((x) => x.repo === 'box')!;
    expect(o.failed).toBeUndefined();
    expect(o.copied).toEqual([...before, b.id]);
    // the disk repository only needed the new one
    expect(b.offsite.find((x) => x.repo === 'disk')!.copied).toEqual([b.id]);
    const snaps = await boxSnapshots();
    // then retention ran on both sides (keep_last 5 and the newest verified): box holds what the local folder holds
    const local = (await listed()).filter((x) => x.local).map((x) => `backup=${x.id}`);
    expect(local).toContain(`backup=${b.id}`);
    expect(snaps.map((s) => s.tags.find((t) => t.startsWith('backup='))).sort()).toEqual(local.sort());
    const row = (await listed()).find((x) => x.id === b.id)!;
    expect(row.offsite.map((c) => c.repo)).toEqual(['disk', 'box']);

    const folder = path.join(backups, b.id);
    rmSync(folder, { recursive: true });
    const snap = snaps.find((s) => s.tags.includes(`backup=${b.id}`))!;
    await execa('restic', ['--repo', box.url, '--option', ssh(), 'restore', snap.id, '--target', backups], { env: resticEnv });
    const manifest = JSON.parse(readFileSync(path.join(folder, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[] };
    for (const f of manifest.files) expect(sha256(path.join(folder, f.path)), f.path).toBe(f.sha256);
  }, 400_000);

  it('sshd stopped: the backup counts locally with a warning; back up, the next backup copies both', async () => {
    await host('--stop');
    const b = await backup();
    const o = b.offsite.find((x) => x.repo === 'box')!;
    expect(o.failed).toMatch(/cannot be opened|connection refused|sftp/i);
    expect(b.offsite.find((x) => x.repo === 'disk')!.copied).toEqual([b.id]);
    expect(b.stderr).toMatch(/WARNING: off-site copy to box failed/);
    expect((await listed()).find((x) => x.id === b.id)!.offsite.map((c) => c.repo)).toEqual(['disk']);

    await host();
    const next = await backup();
    expect(next.offsite.find((x) => x.repo === 'box')).toMatchObject({ copied: [b.id, next.id] });
    const tags = (await boxSnapshots()).flatMap((s) => s.tags);
    expect(tags).toEqual(expect.arrayContaining([`backup=${b.id}`, `backup=${next.id}`]));
    const v = await cli(['backups', 'verify', '--offsite', '--json']);
    expect(v.exitCode, v.stderr).toBe(0);
    expect((JSON.parse(v.stdout) as { offsite: { repo: string; ok: boolean }[] }).offsite.map((c) => [c.repo, c.ok])).toEqual([['disk', true], ['box', true]]);
  }, 400_000);

  it('while copying, no process has the password on its command line: restic gets it in its environment', async () => {
    // a fresh backup with two repositories to copy to; /proc read every 10 ms meanwhile
    const run = cli(['backup', '--json']);
    let finished = false;
    void run.finally(() => (finished = true));
    const seen = new Map<number, { cmdline: string; env: string }>();
    while (!finished) {
      for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
          if (!/(^|\/)restic |(^| )ssh /.test(cmdline) || seen.has(Number(pid))) continue;
          seen.set(Number(pid), { cmdline, env: readFileSync(`/proc/${pid}/environ`, 'utf8') });
        } catch {
          /* ended meanwhile */
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await run).exitCode).toBe(0);
    const restics = [...seen.values()].filter((p) => /(^|\/)restic /.test(p.cmdline));
    expect(restics.length, 'no restic process was seen').toBeGreaterThan(0);
    for (const p of seen.values()) expect(p.cmdline).not.toContain(PASSWORD);
    // the password travelled by the environment: the value for disk (env file), the file for box
    expect(restics.some((p) => p.env.includes(`RESTIC_PASSWORD=${PASSWORD}`) || p.env.includes(`RESTIC_PASSWORD_FILE=${path.join(secrets, 'box.pw')}`))).toBe(true);
  }, 300_000);

  it('a full off-site host (a 16 KB filesystem there) or a refused key: the backup counts locally, status WARNING; with room, the next backup copies both', async () => {
    mkdirSync(tiny, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'lifeops-offsite-full', tiny]);
    const stranger = path.join(secrets, 'unauthorized_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const extra = { password_file: 'secrets/box.pw', known_hosts: 'secrets/known_hosts' };
    editStack(stack.file, (d) => {
      at(d, 'backup').offsite.push({ name: 'full', repository: `sftp:root@10.236.1.2:${tiny}/repo`, identity_file: 'secrets/offsite_ed25519', ...extra });
      at(d, 'backup').offsite.push({ name: 'refused', repository: `sftp:root@10.236.1.2:${tiny}-refused`, identity_file: 'secrets/unauthorized_ed25519', ...extra });
    });
    const b = await backup();
    const by = (n: string) => b.offsite.find((x) => x.repo === n)!;
    console.log(`full host: ${by('full').failed}\nrefused key: ${by('refused').failed}`);
    expect(by('full').failed).toBeTruthy();
    expect(by('refused').failed).toMatch(/permission denied|cannot be opened/i);
    expect(by('box')).toMatchObject({ copied: [b.id] });
    expect(b.stderr).toMatch(/WARNING: off-site copy to full failed/);
    const st = await cli(['status', '--json']);
    const checks = (JSON.parse(st.stdout) as { checks: { check: string; level: string; message: string }[] }).checks;
    for (const n of ['full', 'refused']) expect(checks.find((c) => c.check === `off-site ${n}`)).toMatchObject({ level: 'WARNING', message: expect.stringMatching(/last copy attempt FAILED/) });

    // room again (the filesystem gone), and the refused repository dropped: the next backup copies what full missed
    await execa('umount', [tiny]);
    editStack(stack.file, (d) => (at(d, 'backup').offsite = at(d, 'backup').offsite.filter((r: { name: string }) => r.name !== 'refused')));
    const next = await backup();
    const full = next.offsite.find((x) => x.repo === 'full')!;
    expect(full.failed).toBeUndefined();
    expect(full.copied).toEqual(expect.arrayContaining([b.id, next.id]));
    editStack(stack.file, (d) => (at(d, 'backup').offsite = at(d, 'backup').offsite.filter((r: { name: string }) => r.name !== 'full')));
  }, 400_000);

  it('a host key that does not match the pinned one is refused, never accepted', async () => {
    writeFileSync(box.kh, readFileSync(box.kh, 'utf8').replace(/ssh-ed25519 \S+/, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBqHqGTVFXbVhVbOHVvjzI0ZrkG8dQk1OqpGWlR0eVb4'));
    const b = await backup();
    expect(b.offsite.find((x) => x.repo === 'box')!.failed).toMatch(/host key|verification failed|cannot be opened/i);
  }, 300_000);
});
