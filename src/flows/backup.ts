// `lifeops backup`: Postgres (pg_dump -Fc inside the db container, streamed to
// disk), globals, per-table row counts from the same snapshot, Redis (BGSAVE,
// then dump.rdb through the Docker archive API), named volumes (tar with a
// per-file sha256 list) and the release in force (image IDs, rendered files).
// Everything goes into <dir>/.tmp-<id>/; manifest.json is written LAST, then
// the folder is renamed into place. A folder without a manifest is not a backup.
//
// takeBackup does not take the environment lock: its callers (the backup
// command, deploy, rollback) hold it.
import {
  mkdirSync,
  readdirSync,
  rmSync,
  renameSync,
  openSync,
  fsyncSync,
  closeSync,
  writeFileSync,
  createWriteStream,
  createReadStream,
  statSync,
  existsSync,
  cpSync,
  readFileSync,
} from 'node:fs';
import path from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash, randomBytes, scryptSync, createCipheriv, createDecipheriv, type DecipherGCM } from 'node:crypto';
import { execa } from 'execa';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import { DockerClient, type ContainerState } from '../clients/docker.js';
import { mapImage } from '../render/compose.js';
import { composeFiles } from '../render/index.js';
import { newRunId, type Run } from './context.js';
import { renderDirFor, readRenderedDir } from './render.js';
import { readReleases } from './ledger.js';

export interface FileEntry {
  path: string;
  size: number;
  sha256: string;
}

export interface BackupManifest {
  format: 1;
  id: string;
  env: string;
  project: string;
  stack: string;
  time: string;
  tag?: string;
  encrypted: boolean;
  contents: {
    postgres?: {
      service: string;
      user: string;
      databases: { name: string; file: string; rows: Record<string, number> }[];
      globals?: string;
    };
    redis?: { service: string; dir: string; files: string[] };
    volumes: { name: string; volume: string; file: string; list: string }[];
  };
  release: {
    run_id?: string;
    version?: string;
    config_hash?: string;
    images: Record<string, { image: string; id?: string }>;
    render_dir?: string;
    compose_files: string[];
  };
  files: FileEntry[];
  size: number;
}

export function backupDir(stack: Stack, stateDir: string): string {
  return stack.backup.dir ? path.resolve(stack.baseDir, stack.backup.dir) : path.join(stateDir, 'backups');
}

// ---------------------------------------------------------------- encryption
// File format: "LOB1" | salt(16) | iv(12) | ciphertext | tag(16). Key: scrypt(passphrase, salt).
const MAGIC = Buffer.from('LOB1');

export function encryptionKey(stack: Stack, env: Record<string, string | undefined>): string | undefined {
  const name = stack.backup.encryption_key_env;
  if (!name) return undefined;
  const v = env[name] ?? stack.vars[name];
  return v ? v : undefined;
}

export function encryptStream(passphrase: string): Transform {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = scryptSync(passphrase, salt, 32);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  let headerSent = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (!headerSent) {
        this.push(Buffer.concat([MAGIC, salt, iv]));
        headerSent = true;
      }
      cb(null, cipher.update(chunk));
    },
    flush(cb) {
      if (!headerSent) this.push(Buffer.concat([MAGIC, salt, iv]));
      this.push(cipher.final());
      this.push(cipher.getAuthTag());
      cb();
    },
  });
}

export function decryptStream(passphrase: string): Transform {
  let header = Buffer.alloc(0);
  let decipher: DecipherGCM | undefined;
  let tail = Buffer.alloc(0); // last 16 bytes held back: the auth tag
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        if (!decipher) {
          header = Buffer.concat([header, chunk]);
          if (header.length < 32) return cb();
          if (!header.subarray(0, 4).equals(MAGIC)) return cb(new Error('not an encrypted lifeops backup file'));
          const key = scryptSync(passphrase, header.subarray(4, 20), 32);
          decipher = createDecipheriv('aes-256-gcm', key, header.subarray(20, 32));
          chunk = header.subarray(32);
        }
        const all = Buffer.concat([tail, chunk]);
        const keep = Math.min(16, all.length);
        tail = all.subarray(all.length - keep);
        const body = all.subarray(0, all.length - keep);
        cb(null, body.length ? decipher.update(body) : undefined);
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb) {
      try {
        if (!decipher || tail.length !== 16) return cb(new Error('encrypted file is truncated'));
        decipher.setAuthTag(tail);
        this.push(decipher.final());
        cb();
      } catch {
        cb(new Error('decryption failed: wrong key or corrupted file'));
      }
    },
  });
}

// ------------------------------------------------------------------ helpers

/** Passes bytes through, hashing and counting them. */
export class HashCounter extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

export function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function sha256File(p: string): Promise<FileEntry & { path: string }> {
  const h = createHash('sha256');
  let size = 0;
  await pipeline(createReadStream(p), async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      h.update(c);
      size += c.length;
    }
  });
  return { path: p, size, sha256: h.digest('hex') };
}

/**
 * Run argv, streaming its stdout (optionally encrypted) into `file`; returns
 * the written file's sha256 and size. stderr kept (tail) for the error message.
 */
export async function streamCommandToFile(argv: string[], file: string, opts: { passphrase?: string; env?: Record<string, string> } = {}): Promise<{ sha256: string; size: number }> {
  const [cmd, ...args] = argv;
  const child = execa(cmd, args, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', reject: false, buffer: { stdout: false, stderr: true }, env: opts.env, extendEnv: true });
  const counter = new HashCounter();
  const stages: (Readable | Transform | Writable)[] = [child.stdout as Readable];
  if (opts.passphrase) stages.push(encryptStream(opts.passphrase));
  stages.push(counter, createWriteStream(file));
  let pipeErr: unknown;
  try {
    await (pipeline as (...s: unknown[]) => Promise<void>)(...stages);
  } catch (e) {
    pipeErr = e;
    child.kill('SIGTERM');
  }
  const r = await child;
  if (pipeErr) throw new OperationError(`writing ${path.basename(file)} failed: ${(pipeErr as Error).message}`);
  if (r.exitCode !== 0) {
    const tail = String(r.stderr ?? '').split('\n').slice(-5).join('\n');
    throw new OperationError(`${argv.slice(0, 4).join(' ')} … failed (exit ${r.exitCode}): ${tail}`);
  }
  fsyncPath(file);
  return { sha256: counter.hash.digest('hex'), size: counter.size };
}

/** docker exec (argv, not through a shell) returning stdout; env names are passed through from ours. */
export async function dockerExec(id: string, cmd: string[], opts: { input?: string; envNames?: string[]; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const envFlags = (opts.envNames ?? []).flatMap((n) => ['-e', n]);
  const r = await execa('docker', ['exec', ...(opts.input !== undefined ? ['-i'] : []), ...envFlags, id, ...cmd], {
    reject: false,
    input: opts.input,
    env: opts.env,
    extendEnv: true,
    timeout: opts.timeoutMs ?? 120_000,
  });
  if (r.exitCode !== 0) {
    const tail = String(r.stderr || r.stdout).split('\n').slice(-5).join('\n');
    throw new OperationError(`docker exec ${cmd.slice(0, 3).join(' ')} … failed (exit ${r.exitCode}): ${tail}`);
  }
  return String(r.stdout);
}

export async function serviceContainer(docker: DockerClient, stack: Stack, service: string, requireRunning = true): Promise<ContainerState> {
  const all = await docker.projectContainers(stack.project);
  const mine = all.filter((c) => c.service === service);
  const c = mine.find((x) => x.state === 'running') ?? (requireRunning ? undefined : mine[0]);
  if (!c) throw new OperationError(`service ${service} of ${stack.project} has no running container`, `lifeops deploy ${stack.env}`);
  return c;
}

/** SQL giving "schema.table|count" lines for every user table, counted exactly. */
export const ROW_COUNT_SQL =
  "SELECT format('%I.%I', schemaname, tablename) || '|' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text " +
  "FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;";

export function parseRowCounts(text: string): Record<string, number> {
  const rows: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(.+)\|(\d+)$/.exec(line.trim());
    if (m) rows[m[1]] = Number(m[2]);
  }
  return rows;
}

/**
 * Dump one database inside its container, with row counts taken in the same
 * snapshot: a psql session exports a REPEATABLE READ snapshot, counts rows in
 * it, and pg_dump --snapshot uses it; the session commits afterwards.
 */
async function dumpDatabase(containerId: string, user: string, db: string, file: string, passphrase?: string): Promise<{ rows: Record<string, number>; sha256: string; size: number }> {
  const psql = execa('docker', ['exec', '-i', containerId, 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    buffer: false,
  });
  let out = '';
  let errText = '';
  const waitFor = (marker: string) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const i = out.indexOf(marker + '\n');
        if (i >= 0) {
          const before = out.slice(0, i);
          out = out.slice(i + marker.length + 1);
          psql.stdout!.off('data', onData);
          psql.off('exit', onExit);
          resolve(before);
        }
      };
      const onData = (d: Buffer) => ((out += d.toString()), check());
      const onExit = () => reject(new OperationError(`psql in the database container ended early: ${errText.split('\n').slice(-3).join(' ')}`));
      psql.stdout!.on('data', onData);
      psql.once('exit', onExit);
      check();
    });
  psql.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
  try {
    psql.stdin!.write("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();\nSELECT '@@SNAP';\n");
    const snapshot = (await waitFor('@@SNAP')).trim().split('\n').pop()!.trim();
    if (!/^[0-9A-F-]+$/i.test(snapshot)) throw new OperationError(`could not export a snapshot from ${db}: ${errText}`);
    psql.stdin!.write(ROW_COUNT_SQL + "\nSELECT '@@ROWS';\n");
    const rows = parseRowCounts(await waitFor('@@ROWS'));
    const res = await streamCommandToFile(['docker', 'exec', containerId, 'pg_dump', '-Fc', `--snapshot=${snapshot}`, '-U', user, '-d', db], file, { passphrase });
    psql.stdin!.end('COMMIT;\n');
    await psql;
    return { rows, ...res };
  } finally {
    if (psql.exitCode === null) psql.kill('SIGTERM');
    await psql.catch(() => undefined);
  }
}

async function redisCli(id: string, stack: Stack, args: string[]): Promise<string> {
  const pass = stack.redis?.password;
  return dockerExec(id, ['redis-cli', ...args], pass ? { envNames: ['REDISCLI_AUTH'], env: { REDISCLI_AUTH: pass } } : {});
}

const stripQuotes = (s: string) => s.trim().replace(/^"(.*)"$/, '$1').replace(/^\(integer\) /, '');

async function redisInfo(id: string, stack: Stack): Promise<Record<string, string>> {
  const pass = stack.redis?.password;
  const text = await dockerExec(id, ['redis-cli', 'INFO', 'persistence'], pass ? { envNames: ['REDISCLI_AUTH'], env: { REDISCLI_AUTH: pass } } : {});
  return Object.fromEntries(text.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
}

/** BGSAVE and wait until a save that started after `since` (unix seconds) succeeded. */
async function redisSave(id: string, stack: Stack, timeoutMs = 300_000): Promise<void> {
  const t0 = Date.now();
  // wait out a save already running, and make sure LASTSAVE can move (1 s resolution)
  for (;;) {
    const info = await redisInfo(id, stack);
    const [now] = (await redisCli(id, stack, ['TIME'])).split('\n').map(stripQuotes).map(Number);
    const last = Number(stripQuotes(await redisCli(id, stack, ['LASTSAVE'])));
    if (info.rdb_bgsave_in_progress === '0' && now > last) break;
    if (Date.now() - t0 > timeoutMs) throw new OperationError('redis: a background save is still running');
    await new Promise((r) => setTimeout(r, 200));
  }
  const before = Number(stripQuotes(await redisCli(id, stack, ['LASTSAVE'])));
  const answer = await redisCli(id, stack, ['BGSAVE']);
  if (!/Background saving started|scheduled/i.test(answer)) throw new OperationError(`redis BGSAVE answered: ${answer.trim()}`);
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const info = await redisInfo(id, stack);
    const last = Number(stripQuotes(await redisCli(id, stack, ['LASTSAVE'])));
    if (info.rdb_bgsave_in_progress === '0' && last > before) {
      if (info.rdb_last_bgsave_status !== 'ok') throw new OperationError(`redis background save failed (rdb_last_bgsave_status: ${info.rdb_last_bgsave_status})`);
      return;
    }
    if (info.rdb_bgsave_in_progress === '0' && info.rdb_last_bgsave_status === 'err') throw new OperationError('redis background save failed (rdb_last_bgsave_status: err)');
    if (Date.now() - t0 > timeoutMs) throw new OperationError('redis background save did not finish in time');
  }
}

async function streamToFile(src: NodeJS.ReadableStream, file: string, passphrase?: string): Promise<{ sha256: string; size: number }> {
  const counter = new HashCounter();
  const stages: unknown[] = [src];
  if (passphrase) stages.push(encryptStream(passphrase));
  stages.push(counter, createWriteStream(file));
  await (pipeline as (...s: unknown[]) => Promise<void>)(...stages);
  fsyncPath(file);
  return { sha256: counter.hash.digest('hex'), size: counter.size };
}

export function volumeName(stack: Stack, vol: string): string {
  return `${stack.project}_${vol}`;
}

/** An image that exists locally and has sh, tar and sha256sum: the db service's, else any service's. */
export async function helperImage(stack: Stack, docker: DockerClient): Promise<string> {
  const candidates = [
    ...(stack.postgres ? [stack.services[stack.postgres.service]?.image] : []),
    ...(stack.redis ? [stack.services[stack.redis.service]?.image] : []),
    ...Object.values(stack.services).map((s) => s.image),
  ].filter((x): x is string => Boolean(x));
  for (const img of candidates) {
    const mapped = mapImage(img, stack.images);
    if (await docker.imageExists(mapped)) return mapped;
  }
  throw new OperationError('no local image to run the volume helper container with');
}

function walkFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(path.join(dir, r)).isDirectory()) out.push(...walkFiles(dir, r));
    else out.push(r);
  }
  return out;
}

/** Remove `.tmp-*` folders left by killed or failed runs. */
export function cleanTmp(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const n of readdirSync(dir)) {
    if (n.startsWith('.tmp-')) {
      rmSync(path.join(dir, n), { recursive: true, force: true });
      removed.push(n);
    }
  }
  return removed;
}

export function backupId(now: Date): string {
  return newRunId(now);
}

// ------------------------------------------------------------------ the flow

export async function takeBackup(stack: Stack, run: Run, opts: { stateDir: string; tag?: string }): Promise<BackupManifest> {
  const docker = new DockerClient();
  const dir = backupDir(stack, opts.stateDir);
  const now = run.io.now();
  const id = backupId(now);
  const tmp = path.join(dir, `.tmp-${id}`);
  const passphrase = encryptionKey(stack, run.io.env);
  if (stack.backup.encryption_key_env && !passphrase) {
    throw new UsageError(`backup.encryption_key_env names ${stack.backup.encryption_key_env}, which is not set`, `export ${stack.backup.encryption_key_env}=...`);
  }
  const ext = passphrase ? '.enc' : '';
  const hashed = new Map<string, { sha256: string; size: number }>();
  const manifest: BackupManifest = {
    format: 1,
    id,
    env: stack.env,
    project: stack.project,
    stack: stack.file,
    time: now.toISOString(),
    ...(opts.tag ? { tag: opts.tag } : {}),
    encrypted: Boolean(passphrase),
    contents: { volumes: [] },
    release: { images: {}, compose_files: [] },
    files: [],
    size: 0,
  };

  await run.step('prepare the backup folder', async () => {
    mkdirSync(dir, { recursive: true });
    const removed = cleanTmp(dir);
    if (removed.length) run.info('backup', { removed_incomplete: removed });
    mkdirSync(tmp, { recursive: true });
  });

  try {
    if (stack.postgres && !stack.postgres.external_url) {
      const pgc = stack.postgres;
      const c = await serviceContainer(docker, stack, pgc.service);
      mkdirSync(path.join(tmp, 'postgres'), { recursive: true });
      const dbs = [pgc.database, ...pgc.databases.filter((d) => d !== pgc.database)];
      const pgOut: NonNullable<BackupManifest['contents']['postgres']> = { service: pgc.service, user: pgc.user, databases: [] };
      for (const db of dbs) {
        await run.step(`postgres: pg_dump -Fc ${db} (with row counts)`, async () => {
          const rel = `postgres/${db}.dump${ext}`;
          const r = await dumpDatabase(c.id, pgc.user, db, path.join(tmp, rel), passphrase);
          hashed.set(rel, r);
          pgOut.databases.push({ name: db, file: rel, rows: r.rows });
          run.info('backup', { database: db, bytes: r.size, tables: Object.keys(r.rows).length });
        });
      }
      await run.step('postgres: pg_dumpall --globals-only', async () => {
        const rel = `postgres/globals.sql${ext}`;
        hashed.set(rel, await streamCommandToFile(['docker', 'exec', c.id, 'pg_dumpall', '--globals-only', '-U', pgc.user], path.join(tmp, rel), { passphrase }));
        pgOut.globals = rel;
      });
      manifest.contents.postgres = pgOut;
    }

    if (stack.redis) {
      const rs = stack.redis;
      const c = await serviceContainer(docker, stack, rs.service);
      await run.step('redis: BGSAVE and wait for it', () => redisSave(c.id, stack));
      await run.step('redis: copy the data files out', async () => {
        const dataDir = stripQuotes((await redisCli(c.id, stack, ['CONFIG', 'GET', 'dir'])).split('\n')[1] ?? '/data');
        const dbfile = stripQuotes((await redisCli(c.id, stack, ['CONFIG', 'GET', 'dbfilename'])).split('\n')[1] ?? 'dump.rdb');
        const aof = stripQuotes((await redisCli(c.id, stack, ['CONFIG', 'GET', 'appendonly'])).split('\n')[1] ?? 'no') === 'yes';
        mkdirSync(path.join(tmp, 'redis'), { recursive: true });
        const files: string[] = [];
        const container = docker.api.getContainer(c.id);
        const grab = async (p: string, rel: string) => {
          const stream = (await container.getArchive({ path: path.posix.join(dataDir, p) })) as unknown as NodeJS.ReadableStream;
          hashed.set(rel, await streamToFile(stream, path.join(tmp, rel), passphrase));
          files.push(rel);
        };
        await grab(dbfile, `redis/${dbfile}.tar${ext}`);
        if (aof) {
          const adir = stripQuotes((await redisCli(c.id, stack, ['CONFIG', 'GET', 'appenddirname'])).split('\n')[1] ?? 'appendonlydir');
          await grab(adir, `redis/${adir}.tar${ext}`);
        }
        manifest.contents.redis = { service: rs.service, dir: dataDir, files };
      });
    }

    for (const vol of stack.backup.volumes) {
      await run.step(`volume ${vol}: tar with per-file sha256 list`, async () => {
        const image = await helperImage(stack, docker);
        const full = volumeName(stack, vol);
        try {
          await docker.api.getVolume(full).inspect();
        } catch {
          throw new OperationError(`volume ${full} (backup.volumes: ${vol}) does not exist`);
        }
        mkdirSync(path.join(tmp, 'volumes'), { recursive: true });
        const base = ['docker', 'run', '--rm', '--network', 'none', '--entrypoint', 'sh', '-v', `${full}:/v:ro`, image, '-c'];
        const listRel = `volumes/${vol}.sha256`;
        hashed.set(listRel, await streamCommandToFile([...base, 'cd /v && find . -type f -print0 | sort -z | xargs -0 -r sha256sum'], path.join(tmp, listRel), { passphrase }));
        const rel = `volumes/${vol}.tar${ext}`;
        hashed.set(rel, await streamCommandToFile([...base, 'tar -C /v -cf - .'], path.join(tmp, rel), { passphrase }));
        manifest.contents.volumes.push({ name: vol, volume: full, file: rel, list: listRel });
      });
    }

    await run.step('release in force: images and rendered files', async () => {
      for (const [name, svc] of Object.entries(stack.services)) {
        const image = mapImage(svc.image, stack.images);
        const running = (await docker.projectContainers(stack.project)).find((c) => c.service === name);
        let imageId: string | undefined;
        if (running) imageId = (await docker.api.getContainer(running.id).inspect()).Image;
        imageId ??= await docker.imageId(image);
        manifest.release.images[name] = { image: running?.image ?? image, ...(imageId ? { id: imageId } : {}) };
      }
      const last = readReleases(opts.stateDir, stack.env).filter((r) => r.outcome === 'success').pop();
      if (last) Object.assign(manifest.release, { run_id: last.run_id, version: last.version, config_hash: last.config_hash });
      const renderDir = renderDirFor(opts.stateDir, stack.env);
      if (existsSync(renderDir)) {
        cpSync(renderDir, path.join(tmp, 'release'), { recursive: true });
        manifest.release.render_dir = 'release';
        manifest.release.compose_files = composeFiles(readRenderedDir(renderDir));
      }
    });

    await run.step('checksums, manifest, rename into place', async () => {
      for (const rel of walkFiles(tmp)) {
        const known = hashed.get(rel);
        const e = known ?? (await sha256File(path.join(tmp, rel)));
        if (!known) fsyncPath(path.join(tmp, rel));
        manifest.files.push({ path: rel, size: e.size, sha256: e.sha256 });
      }
      manifest.size = manifest.files.reduce((a, f) => a + f.size, 0);
      const mf = path.join(tmp, 'manifest.json');
      const fd = openSync(mf, 'w', 0o600);
      try {
        writeFileSync(fd, JSON.stringify(manifest, null, 2) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      fsyncPath(tmp);
      renameSync(tmp, path.join(dir, id));
      fsyncPath(dir);
    });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  run.info('backup', { id, dir: path.join(dir, id), size: manifest.size });
  return manifest;
}

// ------------------------------------------------------------------ listing

export interface BackupSummary {
  id: string;
  env: string;
  time: string;
  tag?: string;
  size: number;
  verified?: string;
}

export function readManifest(dir: string, id: string): BackupManifest | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, id, 'manifest.json'), 'utf8')) as BackupManifest;
  } catch {
    return undefined;
  }
}

const verifiedFile = (dir: string) => path.join(dir, 'verified.json');

export function readVerified(dir: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(verifiedFile(dir), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

export function markVerified(dir: string, id: string, when: Date): void {
  const v = readVerified(dir);
  v[id] = when.toISOString();
  const tmp = verifiedFile(dir) + `.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(v, null, 2) + '\n');
  renameSync(tmp, verifiedFile(dir));
}

/** Complete backups (a manifest.json present), oldest first; `.tmp-*` folders never listed. */
export function listBackups(dir: string, env?: string): BackupSummary[] {
  if (!existsSync(dir)) return [];
  const verified = readVerified(dir);
  const out: BackupSummary[] = [];
  for (const n of readdirSync(dir)) {
    if (n.startsWith('.')) continue;
    let isDir = false;
    try {
      isDir = statSync(path.join(dir, n)).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) continue;
    const m = readManifest(dir, n);
    if (!m || m.id !== n) continue;
    if (env && m.env !== env) continue;
    out.push({ id: m.id, env: m.env, time: m.time, ...(m.tag ? { tag: m.tag } : {}), size: m.size, ...(verified[m.id] ? { verified: verified[m.id] } : {}) });
  }
  return out.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}
