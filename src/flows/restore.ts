// Verification, restore and rollback. Nothing live is touched before every
// checksum of the backup has been re-read and matched.
import { existsSync, readdirSync, statSync, createReadStream, cpSync, rmSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { open as openFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import { DockerClient } from '../clients/docker.js';
import { detectCompose, runChecked } from '../clients/runner.js';
import { composeStart, composeStop, composeUp, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import type { Run } from './context.js';
import { Lock } from '../state/lock.js';
import { appendRelease, readReleases, type ReleaseRecord } from '../state/ledger.js';
import { renderDirFor, readRenderedDir, writeRendered, writeSecretFiles } from './render.js';
import { reloadFront } from './rollout.js';
import { restoreDatabaseArgv, restoreBesideArgv, restoreExternalArgv, BESIDE_UNREACHABLE } from './pg-restore.js';
import { composeEnv, releaseArchiveDir, waitHealthy } from './deploy.js';
import {
  backupDir,
  decryptStream,
  dockerExec,
  encryptionKey,
  externalClient,
  externalEnv,
  externalTarget,
  helperImage,
  hostToolMajor,
  parseSumList,
  listBackups,
  markVerified,
  parseRowCounts,
  readManifest,
  serviceContainer,
  sha256File,
  takeBackup,
  ROW_COUNT_SQL,
  type BackupManifest,
} from './backup.js';
import { mapImage } from '../render/compose.js';

export type RestorePart = 'postgres' | 'redis' | 'volumes';

/** Load a backup's manifest; unknown id or missing manifest is an error naming it. */
export function loadBackup(stack: Stack, stateDir: string, id: string): { dir: string; manifest: BackupManifest } {
  const root = backupDir(stack, stateDir);
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id.startsWith('.')) throw new UsageError(`"${id}" is not a backup id`, 'see `lifeops backups list`');
  const dir = path.join(root, id);
  if (!existsSync(dir)) throw new OperationError(`unknown backup ${id}: no such folder in ${root}`, 'see `lifeops backups list`');
  if (!existsSync(path.join(dir, 'manifest.json'))) throw new OperationError(`backup ${id} has no manifest.json: it is incomplete or damaged and cannot be used`);
  const manifest = readManifest(root, id);
  if (!manifest || manifest.id !== id || !Array.isArray(manifest.files)) throw new OperationError(`backup ${id}: manifest.json is unreadable or does not belong to this folder`);
  // a shared backup.dir: another stack's backup is never restored into this one
  if (manifest.project !== stack.project) throw new OperationError(`backup ${id} belongs to stack ${manifest.project}, not ${stack.project}`, `use that stack's file: lifeops -f <its stack file> ...`);
  return { dir, manifest };
}

function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    if (statSync(path.join(dir, r)).isDirectory()) out.push(...walk(dir, r));
    else out.push(r);
  }
  return out;
}

/** Re-read every file: problems (each naming the file), empty when all match. */
export async function checkFiles(dir: string, manifest: BackupManifest): Promise<string[]> {
  const problems: string[] = [];
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const f of manifest.files) {
    const p = path.join(dir, f.path);
    if (f.path.includes('..') || path.isAbsolute(f.path)) {
      problems.push(`${f.path}: bad path in manifest`);
      continue;
    }
    if (!existsSync(p)) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    const got = await sha256File(p);
    if (got.size !== f.size) problems.push(`${f.path}: size ${got.size} bytes, manifest says ${f.size}`);
    else if (got.sha256 !== f.sha256) problems.push(`${f.path}: sha256 mismatch (content changed)`);
  }
  for (const rel of walk(dir)) if (rel !== 'manifest.json' && !listed.has(rel)) problems.push(`${rel}: not in the manifest`);
  return problems;
}

/** Checksums only; throws naming every bad file. */
export async function verifyChecksums(stack: Stack, stateDir: string, id: string): Promise<{ dir: string; manifest: BackupManifest }> {
  const b = loadBackup(stack, stateDir, id);
  const problems = await checkFiles(b.dir, b.manifest);
  if (problems.length) throw new OperationError(`backup ${id} failed verification:\n  ${problems.join('\n  ')}`, 'use another backup (`lifeops backups list`)');
  return b;
}

/** A readable of a backup file's plain bytes (decrypted when the backup is encrypted). */
function plainStream(stack: Stack, run: Run, manifest: BackupManifest, file: string): Readable {
  const src = createReadStream(file, { highWaterMark: 1 << 20 });
  if (!manifest.encrypted) return src;
  const key = encryptionKey(stack, run.io.env);
  if (!key) throw new UsageError(`backup ${manifest.id} is encrypted and ${stack.backup.encryption_key_env ?? 'the key variable'} is not set`);
  return src.pipe(decryptStream(key));
}

/**
 * What pipeInto feeds a command: the decrypted stream of an encrypted backup
 * file, else the file itself (handed to the command as its stdin, as `< file`
 * would: no copy through this process).
 */
function plainInput(stack: Stack, run: Run, manifest: BackupManifest, file: string): Readable | { file: string } {
  return manifest.encrypted ? plainStream(stack, run, manifest, file) : { file };
}

type Piped = { exitCode?: number | null; stdout?: unknown; stderr?: unknown; pipeErr?: unknown };

/** Run argv with input on its stdin; the outcome, whatever it is. */
async function pipeRun(argv: string[], input: Readable | { file: string }, env?: Record<string, string>): Promise<Piped> {
  if ('file' in input) {
    const fh = await openFile(input.file, 'r');
    try {
      return await new Promise((resolve) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: [fh.fd, 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout!.on('data', (d: Buffer) => out.push(d));
        child.stderr!.on('data', (d: Buffer) => err.push(d));
        child.once('error', (e) => resolve({ exitCode: null, stderr: e.message }));
        child.once('close', (code) => resolve({ exitCode: code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
      });
    } finally {
      await fh.close();
    }
  }
  const child = execa(argv[0], argv.slice(1), { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, env, extendEnv: true });
  let pipeErr: unknown;
  try {
    await pipeline(input, child.stdin!);
  } catch (e) {
    pipeErr = e;
  }
  return { ...(await child), pipeErr };
}

/** The output of a piped command that must succeed; a clear error otherwise. */
function pipedOutput(r: Piped, what: string): string {
  if (r.exitCode !== 0) {
    const tail = String(r.stderr || r.stdout).split('\n').slice(-6).join('\n');
    throw new OperationError(`${what} failed (exit ${r.exitCode}):\n${tail}`);
  }
  if (r.pipeErr && (r.pipeErr as NodeJS.ErrnoException).code !== 'EPIPE') throw new OperationError(`${what}: ${(r.pipeErr as Error).message}`);
  return String(r.stdout ?? '');
}

/** Run argv with a backup file (or a stream of it) on its stdin; returns its stdout. */
async function pipeInto(argv: string[], input: Readable | { file: string }, what: string, env?: Record<string, string>): Promise<string> {
  return pipedOutput(await pipeRun(argv, input, env), what);
}

/** A backup file's plain text (small files: lists). */
async function readPlain(stack: Stack, run: Run, manifest: BackupManifest, file: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of plainStream(stack, run, manifest, file)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function rowDiffs(expected: Record<string, number>, got: Record<string, number>): string[] {
  const diffs: string[] = [];
  for (const t of new Set([...Object.keys(expected), ...Object.keys(got)])) {
    if (expected[t] !== got[t]) diffs.push(`${t}: manifest ${expected[t] ?? 'absent'}, restored ${got[t] ?? 'absent'}`);
  }
  return diffs;
}

/**
 * Verify dumps of an external database in a throwaway Postgres container
 * (no network, removed afterwards): the real server is never written to.
 */
async function verifyExternal(stack: Stack, run: Run, dir: string, manifest: BackupManifest): Promise<{ name: string; tables: number; rows: number }[]> {
  const pg = manifest.contents.postgres!;
  const ext = pg.external!;
  // the archive needs a pg_restore at least as new as the pg_dump that wrote it
  const image = mapImage(`postgres:${Math.max(ext.server_version, ext.pg_dump_version)}`, stack.images);
  const docker = new DockerClient();
  if (!(await docker.imageExists(image))) {
    throw new OperationError(`image ${image} is not on this machine: a backup of an external database is verified by restoring it into a throwaway ${image} container`, `docker pull ${image}, or map postgres to a local image under images:`);
  }
  const name = `lifeops-verify-${randomBytes(4).toString('hex')}`;
  const out: { name: string; tables: number; rows: number }[] = [];
  try {
    await run.step(`start a throwaway ${image} container`, async () => {
      // --init: postgres as PID 1 would take a reaped docker-exec orphan for a crashed backend
      await runChecked(['docker', 'run', '-d', '--rm', '--init', '--name', name, '--network', 'none', '--label', 'lifeops.scratch=verify', '-e', 'POSTGRES_HOST_AUTH_METHOD=trust', image]);
      // TCP answers only once the entrypoint's socket-only init server is gone
      for (let i = 0; ; i++) {
        const r = await execa('docker', ['exec', name, 'pg_isready', '-q', '-h', '127.0.0.1', '-U', 'postgres'], { reject: false });
        if (r.exitCode === 0) break;
        if (i >= 300) throw new OperationError(`the throwaway ${image} container did not become ready`);
        await new Promise((res) => setTimeout(res, 200));
      }
    });
    for (const db of pg.databases) {
      await run.step(`restore ${db.file} into the throwaway container and compare row counts`, async () => {
        await dockerExec(name, ['createdb', '-U', 'postgres', db.name]);
        // roles of the real server do not exist here: no owners, no grants
        await pipeInto(['docker', 'exec', '-i', name, 'pg_restore', '--no-owner', '--no-privileges', '--exit-on-error', '-U', 'postgres', '-d', db.name], plainStream(stack, run, manifest, path.join(dir, db.file)), `pg_restore of ${db.file} into a throwaway database`);
        const got = parseRowCounts(await dockerExec(name, ['psql', '-X', '-At', '-U', 'postgres', '-d', db.name, '-c', ROW_COUNT_SQL]));
        const diffs = rowDiffs(db.rows, got);
        if (diffs.length) throw new OperationError(`backup ${manifest.id}: ${db.file} restores with different row counts:\n  ${diffs.join('\n  ')}`);
        out.push({ name: db.name, tables: Object.keys(got).length, rows: Object.values(got).reduce((a, b) => a + b, 0) });
      });
    }
  } finally {
    await execa('docker', ['rm', '-f', name], { reject: false });
  }
  return out;
}

/**
 * Restore an external database's dumps with the host's pg_restore, one
 * transaction per database. The password goes through PGPASSWORD only.
 */
async function restoreExternal(stack: Stack, run: Run, dir: string, manifest: BackupManifest): Promise<void> {
  const pg = manifest.contents.postgres!;
  const url = stack.postgres?.external_url;
  if (!url) throw new OperationError(`backup ${manifest.id} holds an external database (${pg.external!.server}), but this stack sets no postgres.external_url to restore it into`);
  const tool = await run.step('postgres (external): version of the host pg_restore', () => hostToolMajor('pg_restore'));
  if (tool < pg.external!.pg_dump_version) {
    throw new OperationError(`the host's pg_restore is version ${tool}, older than the pg_dump ${pg.external!.pg_dump_version} that wrote backup ${manifest.id}`, `install postgresql-client-${pg.external!.pg_dump_version} (or newer) on this machine`);
  }
  for (const db of pg.databases) {
    const t = externalTarget(url, db.name);
    await run.step(`postgres (external ${t.display}): restore in one transaction (user schemas dropped first)`, async () => {
      // fail before touching anything when the server cannot be reached
      await (await externalClient(t)).end();
      const { argv, env } = restoreExternalArgv(t.user ?? process.env.PGUSER ?? os.userInfo().username, t.url);
      await pipeInto(argv, plainStream(stack, run, manifest, path.join(dir, db.file)), `restore of ${t.display}`, { ...externalEnv(t), ...env });
    });
  }
}

/** Full verification: checksums, then each dump restored into a scratch database and its row counts compared. */
export async function verifyBackup(stack: Stack, run: Run, opts: { stateDir: string; id: string }): Promise<{ id: string; files: number; databases: { name: string; tables: number; rows: number }[] }> {
  const { dir, manifest } = await run.step(`verify checksums of backup ${opts.id}`, () => verifyChecksums(stack, opts.stateDir, opts.id));
  const out: { name: string; tables: number; rows: number }[] = [];
  const pg = manifest.contents.postgres;
  if (pg?.external) out.push(...(await verifyExternal(stack, run, dir, manifest)));
  else if (pg && stack.postgres) {
    const docker = new DockerClient();
    const c = await serviceContainer(docker, stack, pg.service);
    for (const db of pg.databases) {
      await run.step(`restore ${db.file} into a scratch database and compare row counts`, async () => {
        const scratch = `lifeops_verify_${randomBytes(4).toString('hex')}`;
        await dockerExec(c.id, ['createdb', '-U', pg.user, scratch]);
        try {
          await pipeInto(['docker', 'exec', '-i', c.id, 'pg_restore', '--no-owner', '--exit-on-error', '-U', pg.user, '-d', scratch], plainStream(stack, run, manifest, path.join(dir, db.file)), `pg_restore of ${db.file} into a scratch database`);
          const got = parseRowCounts(await dockerExec(c.id, ['psql', '-X', '-At', '-U', pg.user, '-d', scratch, '-c', ROW_COUNT_SQL]));
          const diffs: string[] = [];
          for (const t of new Set([...Object.keys(db.rows), ...Object.keys(got)])) {
            if (db.rows[t] !== got[t]) diffs.push(`${t}: manifest ${db.rows[t] ?? 'absent'}, restored ${got[t] ?? 'absent'}`);
          }
          if (diffs.length) throw new OperationError(`backup ${opts.id}: ${db.file} restores with different row counts:\n  ${diffs.join('\n  ')}`);
          out.push({ name: db.name, tables: Object.keys(got).length, rows: Object.values(got).reduce((a, b) => a + b, 0) });
        } finally {
          await dockerExec(c.id, ['dropdb', '-U', pg.user, '--if-exists', scratch]).catch(() => undefined);
        }
      });
    }
  }
  markVerified(backupDir(stack, opts.stateDir), opts.id, run.io.now());
  return { id: opts.id, files: manifest.files.length, databases: out };
}

/**
 * Restore data from a backup into the running stack. Checks every checksum
 * first and touches nothing when one is wrong. The caller stops the app
 * services (and holds the lock); Redis is stopped and started here.
 */
export async function restoreBackup(stack: Stack, run: Run, opts: { stateDir: string; id: string; parts?: ('postgres' | 'redis' | 'volumes')[] }): Promise<void> {
  const parts = new Set<RestorePart>(opts.parts ?? ['postgres', 'redis', 'volumes']);
  const { dir, manifest } = await run.step(`verify checksums of backup ${opts.id}`, () => verifyChecksums(stack, opts.stateDir, opts.id));
  if (manifest.env !== stack.env) throw new OperationError(`backup ${opts.id} belongs to environment ${manifest.env}, not ${stack.env}`);
  if (manifest.encrypted && !encryptionKey(stack, run.io.env)) throw new UsageError(`backup ${opts.id} is encrypted and ${stack.backup.encryption_key_env ?? 'the key variable'} is not set`);
  const docker = new DockerClient();

  // an external database goes back through the host's pg_restore; the part below is the in-stack one
  if (parts.has('postgres') && manifest.contents.postgres?.external) {
    await restoreExternal(stack, run, dir, manifest);
    parts.delete('postgres');
  }

  const pg = manifest.contents.postgres;
  if (parts.has('postgres') && pg) {
    const c = await serviceContainer(docker, stack, pg.service);
    for (const db of pg.databases) {
      const input = () => plainInput(stack, run, manifest, path.join(dir, db.file));
      const what = `restore of ${db.name}`;
      const password = stack.postgres?.password;
      await run.step(`postgres: restore ${db.name} in one transaction (user schemas dropped first: it ends equal to the backup)`, async () => {
        if (password) {
          const beside = restoreBesideArgv(c.id, c.imageId, pg.user, db.name, password);
          const r = await pipeRun(beside.argv, input(), beside.env);
          if (r.exitCode !== BESIDE_UNREACHABLE) {
            run.info(`postgres: restore ${db.name}`, { restore_client: `beside ${pg.service}` });
            return pipedOutput(r, what);
          }
          const note = `a client beside ${pg.service} could not log in over 127.0.0.1 (nothing was changed): restoring with docker exec in the container`;
          run.say(note);
          run.info(`postgres: restore ${db.name}`, { restore_client: `inside ${pg.service}`, note });
        }
        const inside = restoreDatabaseArgv(c.id, pg.user, db.name);
        return pipeInto(inside.argv, input(), what, inside.env);
      });
    }
  }

  const rd = manifest.contents.redis;
  if (parts.has('redis') && rd) {
    await run.step('redis: stop, replace the data files, start', async () => {
      const c = await serviceContainer(docker, stack, rd.service, false);
      const container = docker.api.getContainer(c.id);
      if ((await container.inspect()).State.Running) await container.stop({ t: 30 });
      // Remove the live AOF first: Redis would load it instead of dump.rdb, and when the backup
      // carries an AOF folder, newer files left beside it would otherwise survive the copy.
      const mount = (await container.inspect()).Mounts.find((m) => m.Destination === rd.dir);
      const source = mount?.Name ?? mount?.Source;
      if (source) {
        const image = await helperImage(stack, docker);
        await runChecked(['docker', 'run', '--rm', '--network', 'none', '--entrypoint', 'sh', '-v', `${source}:/d`, image, '-c', 'rm -rf /d/appendonlydir /d/appendonly.aof*']);
      }
      // each file is a tar from the archive API; `docker cp -` takes it as a stream (no copy in memory)
      for (const f of rd.files) {
        await pipeInto(['docker', 'cp', '-', `${c.id}:${rd.dir}`], plainInput(stack, run, manifest, path.join(dir, f)), `docker cp ${f} into ${rd.service}:${rd.dir}`);
      }
      await container.start();
      const pass = stack.redis?.password;
      for (let i = 0; i < 300; i++) {
        try {
          if ((await dockerExec(c.id, ['redis-cli', 'PING'], pass ? { envNames: ['REDISCLI_AUTH'], env: { REDISCLI_AUTH: pass } } : {})).includes('PONG')) return;
        } catch {
          /* loading */
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new OperationError('redis did not answer PING after the restore');
    });
  }

  if (parts.has('volumes')) {
    for (const v of manifest.contents.volumes) {
      await run.step(`volume ${v.name}: replace its files and check each one`, async () => {
        const image = await helperImage(stack, docker);
        const expected = parseSumList(await readPlain(stack, run, manifest, path.join(dir, v.list)));
        // the same container lists what landed, so a short or failed extraction cannot pass
        const landed = await pipeInto(
          ['docker', 'run', '--rm', '-i', '--network', 'none', '--entrypoint', 'sh', '-v', `${v.volume}:/v`, image, '-c', 'find /v -mindepth 1 -delete && tar -C /v -xf - && cd /v && find . -type f -print0 | sort -z | xargs -0 -r sha256sum'],
          plainStream(stack, run, manifest, path.join(dir, v.file)),
          `restoring volume ${v.volume}`,
        );
        const got = parseSumList(landed);
        const problems: string[] = [];
        for (const [p, sha] of expected) if (got.get(p) !== sha) problems.push(`${p}: ${got.has(p) ? 'content differs' : 'missing'}`);
        for (const p of got.keys()) if (!expected.has(p)) problems.push(`${p}: not in the backup`);
        if (problems.length) {
          throw new OperationError(`volume ${v.volume} does not match backup ${manifest.id} after the restore (${problems.length} files):\n  ${problems.slice(0, 10).join('\n  ')}`);
        }
        run.info('restore', { volume: v.volume, files: got.size });
      });
    }
  }
}

const APP_ROLES = new Set(['web', 'worker', 'front']);

export function appServices(stack: Stack): string[] {
  return Object.entries(stack.services)
    .filter(([, s]) => APP_ROLES.has(s.role))
    .map(([n]) => n);
}

/**
 * Before data is replaced: stop the services that write (so nothing written
 * after the safety backup is lost), then back up the current state. When the
 * safety backup fails, the services are started again and nothing was
 * touched.
 */
export async function safetyBackupWithAppsStopped(
  stack: Stack,
  run: Run,
  o: { stateDir: string; tag: string; compose: ComposeCli; target: ComposeTarget; apps: string[] },
): Promise<BackupManifest> {
  const env = composeEnv(stack);
  if (o.apps.length) {
    await run.step(`stop app services (${o.apps.join(', ')}): no write may land after the safety backup`, () => runChecked(composeStop(o.compose, o.target, o.apps), { env, timeoutMs: 5 * 60_000 }));
  }
  try {
    return await takeBackup(stack, run, { stateDir: o.stateDir, tag: o.tag, safety: true });
  } catch (e) {
    if (o.apps.length) {
      await run
        .step(`undo: start ${o.apps.join(', ')} again (the safety backup failed; no data was touched)`, () => runChecked(composeStart(o.compose, o.target, o.apps), { env, timeoutMs: 5 * 60_000 }))
        .catch((u: Error) => run.say(`warning: could not start ${o.apps.join(', ')} again: ${u.message.split('\n')[0]}`));
    }
    throw e;
  }
}

/** Put a backup's rendered files back as the env's render dir; re-tag images to the recorded IDs when they still exist. */
async function restoreRelease(stack: Stack, run: Run, stateDir: string, dir: string, manifest: BackupManifest): Promise<{ files: string[]; changed: boolean }> {
  if (!manifest.release.render_dir) throw new OperationError(`backup ${manifest.id} carries no rendered files`);
  const renderDir = renderDirFor(stateDir, stack.env);
  const inForce = JSON.stringify(readRenderedDir(renderDir));
  const release = readRenderedDir(path.join(dir, manifest.release.render_dir));
  let changed = JSON.stringify(release) !== inForce;
  // file by file into the same folders: running containers bind-mount these
  // folders (the nginx front's), and a swapped folder would leave them on the deleted one
  writeRendered(release, renderDir);
  writeSecretFiles(stack, renderDir);
  const docker = new DockerClient();
  for (const [svc, img] of Object.entries(manifest.release.images)) {
    if (!img.id) continue;
    const current = await docker.imageId(img.image);
    if (current === img.id) continue;
    if (!(await docker.imageExists(img.id))) {
      run.say(`warning: image ${img.image} of ${svc} (${img.id.slice(0, 19)}) is gone; using the tag as it is now`);
      continue;
    }
    await runChecked(['docker', 'tag', img.id, img.image]);
    run.info('rollback', { retagged: img.image, id: img.id });
    changed = true;
  }
  return { files: manifest.release.compose_files.map((f) => path.join(renderDir, f)), changed };
}

export interface RollbackOptions {
  stateDir: string;
  /** backup id: restore data and release; omitted with `release`: release only */
  id?: string;
  /** ledger run id of a release to return to (release only, data untouched); 'previous' for the one before the current */
  release?: string;
  commandLine: string;
  confirm: (question: string) => Promise<void>;
}

/** Find the backup carrying a given release (run id), newest first. */
export function backupForRelease(stack: Stack, stateDir: string, release: string): string {
  const root = backupDir(stack, stateDir);
  let runId = release;
  if (release === 'previous') {
    const ok = readReleases(stateDir, stack.env).filter((r) => r.outcome === 'success');
    if (ok.length < 2) throw new OperationError(`environment ${stack.env} has no previous successful release in the ledger`, 'lifeops history');
    runId = ok[ok.length - 2].run_id;
  }
  const found = listBackups(root, stack.project, stack.env)
    .reverse()
    .map((b) => readManifest(root, b.id)!)
    .find((m) => m.release.run_id === runId && m.release.render_dir);
  if (!found) throw new OperationError(`no backup holds the rendered files of release ${runId}`, 'releases are kept through backups: `lifeops backups list`');
  return found.id;
}

export async function rollback(stack: Stack, run: Run, opts: RollbackOptions): Promise<{ backup: string; safety_backup?: string; data: boolean }> {
  const started = run.io.now();
  const dataToo = Boolean(opts.id);
  const id = opts.id ?? backupForRelease(stack, opts.stateDir, opts.release ?? 'previous');
  // verify before asking or locking: a bad backup is refused touching nothing
  const { dir, manifest } = await run.step(`verify checksums of backup ${id}`, () => verifyChecksums(stack, opts.stateDir, id));
  if (manifest.env !== stack.env) throw new OperationError(`backup ${id} belongs to environment ${manifest.env}, not ${stack.env}`);
  if (stack.production) await opts.confirm(dataToo ? `roll ${stack.project} back to backup ${id} (data AND release)?` : `return ${stack.project} to release ${manifest.release.run_id ?? id}?`);
  const lock = await run.step('take the lock', async () => Lock.acquire(opts.stateDir, stack.env, opts.commandLine, run.io.now()));
  let safety: BackupManifest | undefined;
  const record = (outcome: 'success' | 'failed', extra: Pick<ReleaseRecord, 'images'> & Partial<ReleaseRecord>) =>
    appendRelease(opts.stateDir, {
      run_id: run.id,
      kind: 'rollback',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: run.io.now().getTime() - started.getTime(),
      version: manifest.release.version ?? 'unknown',
      user: os.userInfo().username,
      config_hash: manifest.release.config_hash ?? '',
      outcome,
      backup: id,
      ...extra,
    });
  try {
    const compose = await detectCompose();
    if (dataToo) {
      const current = renderDirFor(opts.stateDir, stack.env);
      const files = manifest.release.compose_files.map((f) => path.join(current, f)).filter((f) => existsSync(f));
      const apps = files.length ? appServices(stack) : [];
      safety = await safetyBackupWithAppsStopped(stack, run, { stateDir: opts.stateDir, tag: 'pre-rollback', compose, target: { project: stack.project, files }, apps });
      run.say(`safety backup of the current state: ${safety.id}`);
      await restoreBackup(stack, run, { stateDir: opts.stateDir, id });
    }
    const { files, changed } = await run.step('bring back the release\'s rendered files and images', () => restoreRelease(stack, run, opts.stateDir, dir, manifest));
    const docker = new DockerClient();
    const present = new Set((await docker.projectContainers(stack.project)).map((c) => c.service));
    const missing = Object.keys(stack.services).filter((n) => !present.has(n));
    if (changed || missing.length) {
      await run.step(`compose up (${compose.kind}, project ${stack.project})`, () => runChecked(composeUp(compose, { project: stack.project, files }), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }));
    } else {
      // the release in force is the backup's (same files, same images): start what the restore stopped
      await run.step(`compose start (${compose.kind}, project ${stack.project}): the release is unchanged`, () => runChecked(composeStart(compose, { project: stack.project, files }, []), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }));
    }
    if (stack.front && changed) await reloadFront({ stack, run, docker, compose, target: { project: stack.project, files }, env: composeEnv(stack) }, "the release's configuration");
    await run.step('wait for every service to be healthy', () => waitHealthy(stack, docker));
    // kept apart from the live render folder, which the next deploy overwrites: a failed deploy returns to this copy
    const archive = releaseArchiveDir(opts.stateDir, stack.env, run.id);
    writeRendered(readRenderedDir(renderDirFor(opts.stateDir, stack.env)), archive);
    record('success', {
      images: Object.fromEntries(Object.entries(manifest.release.images).map(([k, v]) => [k, v.image])),
      render_dir: archive,
    });
    return { backup: id, ...(safety ? { safety_backup: safety.id } : {}), data: dataToo };
  } catch (e) {
    record('failed', { images: {}, error: run.redactor.text((e as Error).message.split('\n')[0]) + (safety ? ` (safety backup: ${safety.id})` : '') });
    throw e;
  } finally {
    lock.release();
  }
}
