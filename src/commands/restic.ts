// restic argv and environment, pure. The repository password never appears in
// an argv: it goes into the child's environment as RESTIC_PASSWORD_FILE (a
// secret file) or RESTIC_PASSWORD (a variable of the environment's env file).
// An sftp repository is reached through an ssh command lifeops builds itself:
// key-only (BatchMode), the host key pinned (StrictHostKeyChecking=yes and the
// repository's own known_hosts file), the identity file named.
import path from 'node:path';
import { isSftp, type OffsiteRepo } from '../config/offsite-schema.js';

/** One repository as restic is called for it: the URL (relative paths resolved) and the files ssh needs. */
export interface ResticTarget {
  name: string;
  url: string;
  knownHosts?: string;
  identityFile?: string;
}

/** The password as the child gets it: a file restic reads, or the value itself (from the env file). */
export type ResticSecret = { file: string } | { value: string };

export interface ResticCall {
  argv: string[];
  /** what the child's environment adds; holds the password (never logged) */
  env: Record<string, string>;
}

/** The repository URL and ssh files with paths resolved against the stack file's folder. */
export function resticTarget(repo: OffsiteRepo, baseDir: string): ResticTarget {
  const r = repo.repository;
  const url = r.startsWith('/') ? r : /^\.{1,2}\//.test(r) ? path.resolve(baseDir, r) : r.startsWith('local:') ? `local:${path.resolve(baseDir, r.slice(6))}` : r;
  return {
    name: repo.name,
    url,
    ...(repo.known_hosts ? { knownHosts: path.resolve(baseDir, repo.known_hosts) } : {}),
    ...(repo.identity_file ? { identityFile: path.resolve(baseDir, repo.identity_file) } : {}),
  };
}

/** user@host and port of an sftp: URL (both forms restic takes). */
export function sftpHost(url: string): { login: string; port?: number } {
  const short = /^sftp:([^/@:\s]+@[^/@:\s]+):/.exec(url);
  if (!url.startsWith('sftp://') && short) return { login: short[1] };
  const long = /^sftp:\/\/([^/@:\s]+@[^/@:\s]+)(?::(\d+))?\//.exec(url);
  if (long) return { login: long[1], ...(long[2] ? { port: Number(long[2]) } : {}) };
  throw new Error(`not an sftp repository URL: ${url}`);
}

/** The ssh command restic runs for an sftp repository (its sftp.command option). */
export function sshCommand(t: ResticTarget): string[] {
  const { login, port } = sftpHost(t.url);
  return [
    'ssh',
    '-i', t.identityFile!,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${t.knownHosts!}`,
    '-o', 'ConnectTimeout=10',
    '-o', 'ServerAliveInterval=10',
    '-o', 'ServerAliveCountMax=3',
    ...(port ? ['-p', String(port)] : []),
    login,
    '-s', 'sftp',
  ];
}

function base(t: ResticTarget): string[] {
  return ['restic', '--repo', t.url, ...(isSftp(t.url) ? ['--option', `sftp.command=${sshCommand(t).join(' ')}`] : [])];
}

/** restic variables an operator's shell may hold that would pick another repository or password: emptied (restic treats empty as unset). */
const CLEARED = { RESTIC_REPOSITORY: '', RESTIC_REPOSITORY_FILE: '', RESTIC_PASSWORD_COMMAND: '', RESTIC_PASSWORD: '', RESTIC_PASSWORD_FILE: '' };

/** The child's environment: the password (file or value) and restic's cache under the state dir. */
export function resticEnv(secret: ResticSecret, cacheDir: string): Record<string, string> {
  return { ...CLEARED, ...('file' in secret ? { RESTIC_PASSWORD_FILE: secret.file } : { RESTIC_PASSWORD: secret.value }), RESTIC_CACHE_DIR: cacheDir };
}

const call = (t: ResticTarget, secret: ResticSecret, cacheDir: string, args: string[]): ResticCall => ({ argv: [...base(t), ...args], env: resticEnv(secret, cacheDir) });

/** The tags every copy carries: whose backup it is and which one. */
export function copyTags(project: string, env: string, backupId: string): string[] {
  return ['lifeops', `project=${project}`, `env=${env}`, `backup=${backupId}`];
}

/** The snapshot host name: the same on every machine, so a new host finds (and deduplicates against) the old one's copies. */
export const snapshotHost = (project: string, env: string) => `lifeops-${project}-${env}`;

export const resticInit = (t: ResticTarget, s: ResticSecret, cache: string): ResticCall => call(t, s, cache, ['init']);

/** Does the repository exist (and does the password open it)? */
export const resticCatConfig = (t: ResticTarget, s: ResticSecret, cache: string): ResticCall => call(t, s, cache, ['cat', 'config']);

/** Copy one backup folder; run with the backup folder's parent as cwd, so the snapshot holds `<id>/...`. */
export function resticBackup(t: ResticTarget, s: ResticSecret, cache: string, o: { project: string; env: string; backupId: string }): ResticCall {
  return call(t, s, cache, ['backup', '--json', '--host', snapshotHost(o.project, o.env), ...copyTags(o.project, o.env, o.backupId).flatMap((tag) => ['--tag', tag]), o.backupId]);
}

/** The copies of one project and environment. */
export function resticSnapshots(t: ResticTarget, s: ResticSecret, cache: string, o: { project: string; env: string }): ResticCall {
  return call(t, s, cache, ['snapshots', '--json', '--tag', `project=${o.project},env=${o.env}`]);
}

/** Read part `n` of `m` of the repository's data back and check it. */
export function resticCheck(t: ResticTarget, s: ResticSecret, cache: string, n: number, m: number): ResticCall {
  if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 1 && n <= m)) throw new Error(`bad subset ${n}/${m}`);
  return call(t, s, cache, ['check', `--read-data-subset=${n}/${m}`]);
}

/** Restore one copy (a snapshot id) into `target`: the backup folder comes back as target/<backup id>. */
export const resticRestore = (t: ResticTarget, s: ResticSecret, cache: string, snapshot: string, target: string): ResticCall => call(t, s, cache, ['restore', snapshot, '--target', target]);

/** Remove the given copies (snapshot ids, as retention chose them) and the data only they used. */
export function resticForget(t: ResticTarget, s: ResticSecret, cache: string, snapshots: string[]): ResticCall {
  if (!snapshots.length || snapshots.some((id) => !/^[0-9a-f]{8,64}$/.test(id))) throw new Error(`restic forget needs snapshot ids, got ${JSON.stringify(snapshots)}`);
  return call(t, s, cache, ['forget', '--prune', ...snapshots]);
}

// ------------------------------------------------------------------ the WAL archive (backup.pitr)

/** The tags of an environment's off-site WAL archive snapshots (no backup= tag: they are not backup copies). */
export function walTags(project: string, env: string): string[] {
  return ['lifeops', `project=${project}`, `env=${env}`, 'wal'];
}

/** Copy the WAL mirror folder; run with the mirror's parent as cwd, so the snapshot holds `wal/...`. restic stores only new chunks. */
export function resticBackupWal(t: ResticTarget, s: ResticSecret, cache: string, o: { project: string; env: string }): ResticCall {
  return call(t, s, cache, ['backup', '--json', '--host', snapshotHost(o.project, o.env), ...walTags(o.project, o.env).flatMap((tag) => ['--tag', tag]), 'wal']);
}

/** The WAL archive snapshots of one project and environment. */
export function resticWalSnapshots(t: ResticTarget, s: ResticSecret, cache: string, o: { project: string; env: string }): ResticCall {
  return call(t, s, cache, ['snapshots', '--json', '--tag', `project=${o.project},env=${o.env},wal`]);
}

/** One file of a snapshot on stdout (the WAL index, read before anything is fetched). */
export function resticDump(t: ResticTarget, s: ResticSecret, cache: string, snapshot: string, file: string): ResticCall {
  if (!/^[0-9a-f]{8,64}$/.test(snapshot)) throw new Error(`restic dump needs a snapshot id, got ${JSON.stringify(snapshot)}`);
  return call(t, s, cache, ['dump', snapshot, file]);
}

/** Forget superseded WAL snapshots (each holds the whole archive): no prune here, the data goes with the next retention's prune. */
export function resticForgetOnly(t: ResticTarget, s: ResticSecret, cache: string, snapshots: string[]): ResticCall {
  if (!snapshots.length || snapshots.some((id) => !/^[0-9a-f]{8,64}$/.test(id))) throw new Error(`restic forget needs snapshot ids, got ${JSON.stringify(snapshots)}`);
  return call(t, s, cache, ['forget', ...snapshots]);
}
