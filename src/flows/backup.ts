// `lifeops backup`: Postgres (pg_dump -Fc inside the db container, streamed to
// disk; or the host's pg_dump for postgres.external_url), globals, per-table
// row counts from the same snapshot, Redis (BGSAVE, then dump.rdb through the
// Docker archive API), named volumes (tar with a per-file sha256 list read
// from the archive itself) and the release in force (image IDs, rendered files).
// Everything goes into <dir>/.tmp-<id>.<project>/; manifest.json is written
// LAST, then the folder is renamed into place. A folder without a manifest is
// not a backup.
//
// takeBackup does not take the environment lock: its callers (the backup
// command, deploy, rollback) hold it. That is what makes it safe to delete a
// leftover .tmp-*.<project> folder: no other live run of this project writes one.
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
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, scryptSync, createCipheriv, createDecipheriv, type DecipherGCM, type Hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { execa } from 'execa';
import type pgModule from 'pg';
import type { Stack } from '../config/schema.js';
import { LifeopsError, OperationError, UsageError } from '../errors.js';
import { DockerClient, type ContainerState } from '../clients/docker.js';
import { connectRedis } from '../clients/datastores.js';
import { mapImage } from '../render/compose.js';
import { composeFiles } from '../render/index.js';
import { newRunId, type Run } from './context.js';
import { renderDirFor, readRenderedDir, SECRET_FILES_DIR } from './render.js';
import { readReleases } from '../state/ledger.js';
import { writeFileSynced } from '../util/durable.js';

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
      /** set when the database is outside the stack (postgres.external_url), dumped by the host's pg_dump */
      external?: { server: string; server_version: number; pg_dump_version: number };
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
 * Run argv, streaming its stdout (through `through`, then optionally encrypted)
 * into `file`; returns the written file's sha256 and size. stderr kept (tail)
 * for the error message.
 */
export async function streamCommandToFile(argv: string[], file: string, opts: { passphrase?: string; env?: Record<string, string>; through?: Transform } = {}): Promise<{ sha256: string; size: number }> {
  const [cmd, ...args] = argv;
  const child = execa(cmd, args, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', reject: false, buffer: { stdout: false, stderr: true }, env: opts.env, extendEnv: true });
  const counter = new HashCounter();
  const stages: (Readable | Transform | Writable)[] = [child.stdout as Readable];
  if (opts.through) stages.push(opts.through);
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
  const tail = String(r.stderr ?? '').split('\n').slice(-5).join('\n');
  const failed = r.exitCode !== 0 ? new OperationError(`${argv.slice(0, 4).join(' ')} … failed (exit ${r.exitCode}): ${tail}`) : undefined;
  // a write error (full disk) explains a killed command; otherwise the command's own error comes first
  if (pipeErr && (/^E[A-Z]+$/.test(String((pipeErr as NodeJS.ErrnoException).code)) || !failed)) throw writeError(pipeErr, file);
  if (failed) throw failed;
  try {
    fsyncPath(file);
  } catch (e) {
    throw writeError(e, file);
  }
  return { sha256: counter.hash.digest('hex'), size: counter.size };
}

/**
 * A failed write as one line naming the file. A full disk is said plainly:
 * the caller removes the incomplete folder, so nothing partial stays behind.
 */
export function writeError(e: unknown, file: string): LifeopsError {
  if (e instanceof LifeopsError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new OperationError(
      `no space left on device writing ${file}; the incomplete backup was removed and earlier backups are untouched`,
      `free space on that disk, or point backup.dir at a larger one`,
    );
  }
  return new OperationError(`writing ${file} failed: ${(e as Error | undefined)?.message ?? String(e)}`);
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
 * pg_dump for dumpDatabase, run inside the db container. Started together
 * with the psql session (the two docker exec start-ups overlap), sh waits for
 * the exported snapshot's name on stdin, then becomes pg_dump (exec: no child
 * process is left to the postmaster, which is the container's init).
 */
const PG_DUMP_ON_SNAPSHOT = 'IFS= read -r snap || exit 97; exec pg_dump -Fc --snapshot="$snap" "$@"';

/** pg_dump's -Z for this backup: the stack's level; a safety backup (on the downtime path) at most 1, which dumps about a third faster for a few % more bytes. */
export function dumpCompression(stack: Stack, safety: boolean): string[] {
  const level = safety ? Math.min(1, stack.backup.compression ?? 1) : stack.backup.compression;
  return level === undefined ? [] : [`-Z${level}`];
}
/**
 * Runs its arguments (the docker client) on the host and kills it when fd 3
 * reaches end-of-file: lifeops holds the other end, so a lifeops that dies
 * takes the docker client with it, and with it the container's pg_dump,
 * whose output then has nowhere to go. Writing the file directly, the client
 * would otherwise never notice. (A background job's stdin is /dev/null in
 * sh: hence the copy on fd 4.)
 */
const STOP_WITH_LIFEOPS = [
  'exec 4<&0',
  '"$@" <&4 3<&- 4<&- & p=$!',
  '(while read -r _; do :; done; kill $p) <&3 >/dev/null 2>&1 4<&- & w=$!',
  'exec 3<&- 4<&-',
  'wait $p; s=$?',
  'kill $w 2>/dev/null; wait $w',
  'exit $s',
].join('\n');
/** how many times a volume whose files change while tar reads them is archived before the backup fails */
const VOLUME_TRIES = 3;
/** flush what the dump has written so far to disk every this many bytes, so the final fsync finds little left */
const FLUSH_EVERY = 64 << 20;

/**
 * sha256 and size of a file that another process is appending to (its stdout
 * is this file), read back from the page cache while it is written; ends when
 * `exited()` was true before a read that found nothing more. Meanwhile the
 * written data is flushed to disk (one fdatasync at a time).
 */
async function hashWhileWritten(fh: FileHandle, exited: () => boolean, wake: Promise<unknown>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  let size = 0;
  let flushedTo = 0;
  let flushing: Promise<void> | undefined;
  for (;;) {
    const gone = exited(); // before the read: a writer gone by then has written everything
    const { bytesRead } = await fh.read(buf, 0, buf.length, size);
    if (bytesRead > 0) {
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
      if (!flushing && size - flushedTo >= FLUSH_EVERY) {
        flushedTo = size;
        flushing = fh.datasync().finally(() => (flushing = undefined));
      }
      continue;
    }
    if (gone) break;
    await Promise.race([wake, new Promise((r) => setTimeout(r, 25))]);
  }
  await flushing;
  return { sha256: hash.digest('hex'), size };
}

/**
 * The session that exports the snapshot pg_dump reads and counts rows in it:
 * BEGIN REPEATABLE READ, pg_export_snapshot(), the counts, then COMMIT once
 * the dump is done. Closing it before then rolls it back.
 */
interface SnapshotSession {
  readonly via: string;
  exportSnapshot(): Promise<string>;
  countRows(): Promise<Record<string, number>>;
  commit(): Promise<void>;
  close(): Promise<void>;
}

/** Snapshot and row counts on a pg connection (an external server's, or a db service's published 127.0.0.1 port). */
function pgSnapshotSession(client: pgModule.Client, via: string): SnapshotSession {
  return {
    via,
    exportSnapshot: async () => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      return String((await client.query('SELECT pg_export_snapshot() AS s')).rows[0].s);
    },
    countRows: async () => parseRowCounts((await client.query<string[]>({ text: ROW_COUNT_SQL, rowMode: 'array' })).rows.map((r) => r[0]).join('\n')),
    commit: async () => void (await client.query('COMMIT')),
    close: () => client.end().catch(() => undefined),
  };
}

/** The same over `docker exec psql` in the db container, for a db service that publishes no port. */
function psqlSnapshotSession(containerId: string, user: string, db: string): SnapshotSession {
  const psql = execa('docker', ['exec', '-i', containerId, 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    buffer: false,
  });
  let out = '';
  let errText = '';
  psql.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
  /** send SQL, then wait for the marker it selects last; what came before it */
  const ask = (sql: string, marker: string) =>
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
      psql.stdin!.write(`${sql}\nSELECT '${marker}';\n`);
      check();
    });
  return {
    via: 'docker exec psql',
    exportSnapshot: async () => {
      const snapshot = (await ask('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();', '@@SNAP')).trim().split('\n').pop()!.trim();
      if (!/^[0-9A-F-]+$/i.test(snapshot)) throw new OperationError(`could not export a snapshot from ${db}: ${errText}`);
      return snapshot;
    },
    countRows: async () => parseRowCounts(await ask(ROW_COUNT_SQL, '@@ROWS')),
    commit: async () => {
      psql.stdin!.end('COMMIT;\n');
      await psql;
    },
    close: async () => {
      if (psql.exitCode === null) {
        psql.stdin!.destroy(); // end-of-file: psql ends, its transaction rolled back
        await Promise.race([psql.catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
        if (psql.exitCode === null) psql.kill('SIGTERM');
      }
      await psql.catch(() => undefined);
    },
  };
}

/** pg on the db service's published 127.0.0.1 port when there is one and it answers, else psql in the container. */
async function openSnapshotSession(c: ContainerState, user: string, password: string | undefined, db: string): Promise<SnapshotSession> {
  const port = c.ports[5432];
  if (port) {
    const client = new (pgLib().Client)({ host: '127.0.0.1', port, user, password, database: db, connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return pgSnapshotSession(client, `pg on 127.0.0.1:${port}`);
    } catch {
      await client.end().catch(() => undefined);
    }
  }
  return psqlSnapshotSession(c.id, user, db);
}

/**
 * Dump one database inside its container, with row counts taken in the same
 * snapshot: the session exports a REPEATABLE READ snapshot; pg_dump
 * --snapshot dumps exactly it while the session counts rows in it, both at
 * once; the session commits when both are done. pg_dump's output goes
 * straight into the file (the docker CLI writes it, as `> file` would), hashed
 * from the page cache as it grows; an encrypted backup streams through the
 * cipher instead. The file is fsynced before this returns.
 */
async function dumpDatabase(session: SnapshotSession, containerId: string, user: string, db: string, file: string, compression: string[], passphrase?: string): Promise<{ rows: Record<string, number>; sha256: string; size: number }> {
  let fh: FileHandle | undefined;
  try {
    fh = passphrase ? undefined : await openFile(file, 'w+');
  } catch (e) {
    await session.close();
    throw writeError(e, file);
  }
  const dump = spawn('sh', ['-c', STOP_WITH_LIFEOPS, 'sh', 'docker', 'exec', '-i', containerId, 'sh', '-c', PG_DUMP_ON_SNAPSHOT, 'sh', '-U', user, '-d', db, ...compression], {
    stdio: ['pipe', fh ? fh.fd : 'pipe', 'pipe', 'pipe'],
  });
  const lifeline = dump.stdio[3] as Writable; // never written to; closed to stop the dump
  dump.stdin!.on('error', () => undefined); // a dump that failed to start: its own error is reported
  lifeline.on('error', () => undefined);
  let dumpErr = '';
  dump.stderr!.on('data', (d: Buffer) => (dumpErr = (dumpErr + d.toString()).slice(-8192)));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    const gone = () => resolve(void (exited = true));
    dump.once('exit', gone);
    dump.once('error', gone);
  });
  const closed = new Promise<number | null>((resolve) => {
    dump.once('close', (code) => resolve(code));
    dump.once('error', (e) => {
      dumpErr += e.message;
      resolve(null);
    });
  });
  let dumping: Promise<{ sha256: string; size: number }> | undefined;
  const dumpLabel = `docker exec ${containerId.slice(0, 12)} pg_dump -Fc ${[...compression, db].join(' ')}`;
  const within = async (p: Promise<unknown>, ms: number) => {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([p, new Promise((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  };
  /** stop the dump (a no-op once it ended): its lifeline closed, then the wrapper killed if that was not enough */
  const stopDump = async () => {
    dump.stdin!.destroy();
    lifeline.destroy();
    if (!exited) await within(exit, 5000);
    if (!exited) dump.kill('SIGTERM');
  };
  try {
    const snapshot = await session.exportSnapshot();
    dump.stdin!.end(snapshot + '\n');
    const counting = session.countRows();
    dumping = (async () => {
      let written: { sha256: string; size: number } | undefined;
      let writeErr: unknown;
      if (fh) {
        written = await hashWhileWritten(fh, () => exited, exit).catch((e) => {
          writeErr = e;
          void stopDump();
          return undefined;
        });
      } else {
        const counter = new HashCounter();
        const stages: (Readable | Transform | Writable)[] = [dump.stdout!, ...(passphrase ? [encryptStream(passphrase)] : []), counter, createWriteStream(file)];
        await (pipeline as (...s: unknown[]) => Promise<void>)(...stages).then(
          () => (written = { sha256: counter.hash.digest('hex'), size: counter.size }),
          (e) => {
            writeErr = e;
            void stopDump();
          },
        );
      }
      const code = await closed;
      if (writeErr) throw writeError(writeErr, file); // the reason the dump was stopped
      const tail = dumpErr.trim().split('\n').slice(-5).join('\n');
      // with the file as its stdout, the docker CLI is the one that meets a full disk
      if (code !== 0 && /no space left on device/i.test(tail)) throw writeError(Object.assign(new Error(tail), { code: 'ENOSPC' }), file);
      if (code !== 0 || !written) throw new OperationError(`${dumpLabel} failed (exit ${code ?? 'by a signal'}): ${tail}`);
      try {
        if (fh) await fh.sync();
        else fsyncPath(file);
      } catch (e) {
        throw writeError(e, file);
      }
      return written;
    })();
    counting.catch(() => undefined);
    dumping.catch(() => undefined);
    // the first failure of either ends the other (finally below)
    const [rows, written] = await Promise.all([counting, dumping]);
    await session.commit();
    return { rows, ...written };
  } finally {
    await stopDump(); // a no-op after a dump that ended
    await closed;
    await dumping?.catch(() => undefined); // settled before its file handle closes
    await fh?.close().catch(() => undefined);
    await session.close();
  }
}

// ------------------------------------------------------------------ redis

/** The few Redis commands a backup needs, over ioredis or over docker exec redis-cli. */
interface RedisSession {
  readonly via: string;
  /** INFO persistence as key -> value */
  info(): Promise<Record<string, string>>;
  /** server clock, unix seconds */
  time(): Promise<number>;
  lastsave(): Promise<number>;
  /** BGSAVE's reply, or the error text it answered with */
  bgsave(): Promise<string>;
  /** undefined when CONFIG is refused (renamed away on hardened servers) */
  configGet(name: string): Promise<string | undefined>;
  close(): void;
}

const requireLazy = createRequire(import.meta.url);

const parseInfo = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );

const stripQuotes = (s: string) => s.trim().replace(/^"(.*)"$/, '$1').replace(/^\(integer\) /, '');

async function ioredisSession(port: number, password: string | undefined): Promise<RedisSession> {
  const client = await connectRedis({ host: '127.0.0.1', port, password, commandTimeoutMs: 15_000 });
  try {
    await client.ping(); // a wrong password shows here, before any save is asked for
  } catch (e) {
    client.disconnect();
    throw e;
  }
  return {
    via: `127.0.0.1:${port}`,
    info: async () => parseInfo(await client.info('persistence')),
    time: async () => Number((await client.time())[0]),
    lastsave: async () => Number(await client.lastsave()),
    bgsave: async () => {
      try {
        return String(await client.bgsave());
      } catch (e) {
        return (e as Error).message;
      }
    },
    configGet: async (name) => {
      try {
        const r = (await client.call('CONFIG', 'GET', name)) as string[];
        return r[1];
      } catch {
        return undefined;
      }
    },
    close: () => client.disconnect(),
  };
}

/** The fallback when Redis publishes no port: one docker exec per command. */
function execSession(id: string, password: string | undefined): RedisSession {
  const opts = password ? { envNames: ['REDISCLI_AUTH'], env: { REDISCLI_AUTH: password } } : {};
  const cli = (args: string[]) => dockerExec(id, ['redis-cli', ...args], opts);
  return {
    via: 'docker exec redis-cli',
    info: async () => parseInfo(await cli(['INFO', 'persistence'])),
    time: async () => Number(stripQuotes((await cli(['TIME'])).split('\n')[0])),
    lastsave: async () => Number(stripQuotes(await cli(['LASTSAVE']))),
    bgsave: async () => {
      try {
        return (await cli(['BGSAVE'])).trim();
      } catch (e) {
        return (e as Error).message;
      }
    },
    configGet: async (name) => {
      try {
        const value = (await cli(['CONFIG', 'GET', name])).split('\n')[1];
        return value === undefined ? undefined : stripQuotes(value);
      } catch {
        return undefined;
      }
    },
    close: () => {},
  };
}

/** ioredis through the port Redis publishes on 127.0.0.1 when there is one, else docker exec. */
async function openRedis(run: Run, c: ContainerState, password: string | undefined): Promise<RedisSession> {
  const port = c.ports[6379];
  if (port) {
    try {
      return await ioredisSession(port, password);
    } catch (e) {
      run.info('backup', { redis: `127.0.0.1:${port} did not answer (${(e as Error).message}); using docker exec` });
    }
  }
  return execSession(c.id, password);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** BGSAVE, then wait until a save started after this call succeeded. */
async function redisSave(s: RedisSession, timeoutMs = 300_000): Promise<void> {
  const t0 = Date.now();
  let before = 0;
  for (;;) {
    // BGSAVE is refused during another save or an AOF rewrite: wait those out. LASTSAVE
    // has 1 s resolution, so also wait until the clock is past it, or a fresh save could not be told apart.
    const info = await s.info();
    const busy = info.rdb_bgsave_in_progress !== '0' || info.aof_rewrite_in_progress === '1';
    if (!busy) {
      before = await s.lastsave();
      if ((await s.time()) > before) {
        const answer = await s.bgsave();
        if (/Background saving started/i.test(answer)) break;
        // lost a race with an automatic save or rewrite: go round again
        if (!/in progress/i.test(answer)) throw new OperationError(`redis BGSAVE answered: ${answer}`);
      }
    }
    if (Date.now() - t0 > timeoutMs) throw new OperationError('redis: a background save or AOF rewrite is still running', 'try again later');
    await sleep(100);
  }
  for (;;) {
    await sleep(100);
    const info = await s.info();
    if (info.rdb_bgsave_in_progress === '0') {
      // Redis moves LASTSAVE only when a save succeeded
      if ((await s.lastsave()) > before && info.rdb_last_bgsave_status === 'ok') return;
      throw new OperationError(`redis background save failed (rdb_last_bgsave_status: ${info.rdb_last_bgsave_status ?? 'unknown'})`, 'see the Redis log: `lifeops logs <redis service>`');
    }
    if (Date.now() - t0 > timeoutMs) throw new OperationError('redis background save did not finish in time');
  }
}

/** Wait until no AOF rewrite runs or is scheduled; returns INFO persistence of that moment. */
async function waitNoRewrite(s: RedisSession, timeoutMs = 300_000): Promise<Record<string, string>> {
  const t0 = Date.now();
  for (;;) {
    const info = await s.info();
    if (info.aof_rewrite_in_progress !== '1' && info.aof_rewrite_scheduled !== '1') return info;
    if (Date.now() - t0 > timeoutMs) throw new OperationError('redis: an AOF rewrite is still running', 'try again later');
    await sleep(200);
  }
}

async function streamToFile(src: NodeJS.ReadableStream, file: string, passphrase?: string): Promise<{ sha256: string; size: number }> {
  const counter = new HashCounter();
  const stages: unknown[] = [src];
  if (passphrase) stages.push(encryptStream(passphrase));
  stages.push(counter, createWriteStream(file));
  try {
    await (pipeline as (...s: unknown[]) => Promise<void>)(...stages);
    fsyncPath(file);
  } catch (e) {
    throw writeError(e, file);
  }
  return { sha256: counter.hash.digest('hex'), size: counter.size };
}

// ------------------------------------------------------------------ volume archives

/** A tar number field: octal text, or GNU base-256 (sizes past 8 GiB). */
function tarNumber(f: Buffer): number {
  if (f[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i];
    return n;
  }
  const t = f.toString('latin1').replace(/\0[\s\S]*$/, '').trim();
  return t ? parseInt(t, 8) : 0;
}

const cString = (b: Buffer) => {
  const z = b.indexOf(0);
  return (z >= 0 ? b.subarray(0, z) : b).toString('utf8');
};

/** "./a/b" for "a/b", "./a/b" and "a/b/": the names find(1) prints under `cd /v && find .`. */
export const volumePath = (name: string) => `./${name.replace(/^(\.\/)+/, '').replace(/\/+$/, '')}`;

/** One sha256sum(1) line, escaped the way GNU coreutils does for \, newline and CR. */
function sumLine(sha: string, name: string): string {
  if (!/[\\\n\r]/.test(name)) return `${sha}  ${name}\n`;
  return `\\${sha}  ${name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}\n`;
}

/** sha256sum(1) output -> path -> sha256 (paths kept in their escaped form on both sides). */
export function parseSumList(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\\?([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) out.set(volumePath(m[2]), m[1]);
  }
  return out;
}

/**
 * Passes a tar stream through unchanged and lists its regular files with
 * their sha256. The list is read from the archive itself, so it describes
 * exactly what a restore puts back, even when the volume changed meanwhile.
 * Reads ustar, pax and GNU archives (long names, hard links).
 */
export class TarLister extends Transform {
  private readonly files = new Map<string, string>();
  private header = Buffer.alloc(0);
  private left = 0; // data bytes of the current entry still to come
  private pad = 0; // zero padding up to the next 512-byte block
  private entry?: { type: string; name: string; link: string; hash?: Hash; meta?: Buffer[] };
  private next: { name?: string; link?: string } = {}; // from 'L'/'K'/'x' entries, for the entry after them
  private ended = false;

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    try {
      this.consume(chunk);
      cb(null, chunk);
    } catch (e) {
      cb(e as Error);
    }
  }

  _flush(cb: (e?: Error | null) => void): void {
    cb(this.ended ? null : new Error('the volume archive ended early (no end-of-archive marker)'));
  }

  /** sha256sum(1) format, sorted by name bytes like `find | sort -z`. */
  list(): string {
    return [...this.files.entries()]
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([name, sha]) => sumLine(sha, name))
      .join('');
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.left > 0) {
        const part = chunk.subarray(off, off + Math.min(this.left, chunk.length - off));
        if (this.entry?.hash) this.entry.hash.update(part);
        else if (this.entry?.meta) this.entry.meta.push(Buffer.from(part));
        this.left -= part.length;
        off += part.length;
        if (this.left === 0) this.endEntry();
      } else if (this.pad > 0) {
        const n = Math.min(this.pad, chunk.length - off);
        this.pad -= n;
        off += n;
      } else {
        const n = Math.min(512 - this.header.length, chunk.length - off);
        this.header = Buffer.concat([this.header, chunk.subarray(off, off + n)]);
        off += n;
        if (this.header.length === 512) {
          const h = this.header;
          this.header = Buffer.alloc(0);
          this.startEntry(h);
        }
      }
    }
  }

  private startEntry(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.ended = true; // what follows is zero padding to the record size
      return;
    }
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== tarNumber(h.subarray(148, 156))) throw new Error('the volume archive is damaged (bad tar header checksum)');
    const size = tarNumber(h.subarray(124, 136));
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]);
    let name = cString(h.subarray(0, 100));
    if (h.subarray(257, 263).toString('latin1') === 'ustar\0') {
      const prefix = cString(h.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
    }
    const link = cString(h.subarray(157, 257));
    if ('LKxg'.includes(type)) this.entry = { type, name, link, meta: [] };
    else {
      this.entry = { type, name: this.next.name ?? name, link: this.next.link ?? link, ...(type === '0' || type === '7' ? { hash: createHash('sha256') } : {}) };
      this.next = {};
    }
    this.left = size;
    this.pad = (512 - (size % 512)) % 512;
    if (size === 0) this.endEntry();
  }

  private endEntry(): void {
    const e = this.entry!;
    this.entry = undefined;
    const meta = () => Buffer.concat(e.meta ?? []);
    if (e.type === 'L') this.next.name = cString(meta());
    else if (e.type === 'K') this.next.link = cString(meta());
    else if (e.type === 'x') {
      // pax records: "<length> <key>=<value>\n"
      const b = meta();
      for (let off = 0; off < b.length; ) {
        const sp = b.indexOf(0x20, off);
        const len = sp > off ? Number(b.subarray(off, sp).toString('latin1')) : 0;
        if (!len) break;
        const rec = b.subarray(sp + 1, off + len - 1).toString('utf8');
        const eq = rec.indexOf('=');
        if (rec.slice(0, eq) === 'path') this.next.name = rec.slice(eq + 1);
        if (rec.slice(0, eq) === 'linkpath') this.next.link = rec.slice(eq + 1);
        off += len;
      }
    } else if (e.hash) this.files.set(volumePath(e.name), e.hash.digest('hex'));
    else if (e.type === '1') {
      // a hard link: the same content as the file archived before it
      const target = this.files.get(volumePath(e.link));
      if (target) this.files.set(volumePath(e.name), target);
    }
  }
}

// ------------------------------------------------------------- external postgres

const pgLib = () => requireLazy('pg') as typeof pgModule;

export interface ExternalTarget {
  /** for pg_dump/pg_restore argv: the URL without its password */
  url: string;
  /** given to the client tools as PGPASSWORD, never on argv */
  password?: string;
  /** for the pg client, in this process only */
  conn: string;
  /** user@host:port/db, for messages */
  display: string;
  user?: string;
}

/** postgres.external_url pointed at one database, split so the password never reaches argv or messages. */
export function externalTarget(rawUrl: string, db: string): ExternalTarget {
  let u: URL;
  try {
    u = new URL(rawUrl);
  } catch {
    throw new UsageError('postgres.external_url is not a URL', 'write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  if (!/^postgres(ql)?:$/.test(u.protocol)) throw new UsageError(`postgres.external_url must be a postgresql:// URL, not ${u.protocol}//…`);
  const password = (u.password ? decodeURIComponent(u.password) : undefined) ?? u.searchParams.get('password') ?? undefined;
  u.pathname = `/${encodeURIComponent(db)}`;
  const conn = u.href;
  u.password = '';
  u.searchParams.delete('password');
  const user = u.username ? decodeURIComponent(u.username) : undefined;
  const host = u.hostname || u.searchParams.get('host') || 'localhost';
  return { url: u.href, ...(password ? { password } : {}), conn, display: `${user ?? '(default user)'}@${host}${u.port ? `:${u.port}` : ''}/${db}`, ...(user ? { user } : {}) };
}

/** Environment for the host's client tools: the password through PGPASSWORD only. */
export function externalEnv(t: ExternalTarget): Record<string, string> {
  return { ...(t.password ? { PGPASSWORD: t.password } : {}), PGAPPNAME: 'lifeops' };
}

/** Major version of a host client tool (pg_dump 15.20 -> 15); a clear error when it is missing. */
export async function hostToolMajor(tool: 'pg_dump' | 'pg_restore' | 'pg_dumpall'): Promise<number> {
  const r = await execa(tool, ['--version'], { reject: false, timeout: 30_000 });
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new OperationError(`${tool} is not installed on this machine: an external database (postgres.external_url) is backed up and restored with the host's PostgreSQL client tools`, 'apt-get install postgresql-client (the server\'s major version or newer)');
  }
  const m = /\s(\d+)(?:\.\d+)?/.exec(String(r.stdout));
  if (r.exitCode !== 0 || !m) throw new OperationError(`${tool} --version failed: ${String(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return Number(m[1]);
}

/** A connected pg client, or a one-line error naming the server (never the URL). */
export async function externalClient(t: ExternalTarget): Promise<pgModule.Client> {
  const client = new (pgLib().Client)({ connectionString: t.conn, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw new OperationError(`cannot connect to the external database ${t.display}: ${(e as Error).message}`, 'check postgres.external_url and that the server accepts connections from this machine');
  }
  return client;
}

/** The server's major version (SHOW server_version_num: 150004 -> 15). */
export async function serverMajor(client: pgModule.Client): Promise<number> {
  const n = Number((await client.query('SHOW server_version_num')).rows[0]?.server_version_num);
  if (!Number.isFinite(n) || n <= 0) throw new OperationError('the external database did not report server_version_num');
  return Math.floor(n / 10000);
}

/**
 * Dump one external database with the host's pg_dump, row counts from the
 * same snapshot: a REPEATABLE READ transaction exports its snapshot, counts
 * rows in it, and pg_dump --snapshot reads exactly that; then it commits.
 */
async function dumpExternal(t: ExternalTarget, clientMajor: number, file: string, compression: string[], passphrase?: string): Promise<{ rows: Record<string, number>; sha256: string; size: number; server: number }> {
  const client = await externalClient(t);
  try {
    const server = await serverMajor(client);
    if (clientMajor < server) {
      throw new OperationError(`the host's pg_dump is version ${clientMajor} but ${t.display} runs PostgreSQL ${server}: pg_dump cannot dump a newer server`, `install postgresql-client-${server} (or newer) on this machine`);
    }
    const session = pgSnapshotSession(client, t.display);
    const snapshot = await session.exportSnapshot();
    const counting = session.countRows(); // beside the dump, in the same snapshot
    counting.catch(() => undefined);
    const res = await streamCommandToFile(['pg_dump', '-Fc', ...compression, `--snapshot=${snapshot}`, '-d', t.url], file, { passphrase, env: externalEnv(t) });
    const rows = await counting;
    await session.commit();
    return { rows, ...res, server };
  } finally {
    await client.end().catch(() => {});
  }
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

/**
 * Remove the `.tmp-*` folders left by killed or failed runs of `project`
 * (named .tmp-<id>.<project>; plain .tmp-<id> ones come from older versions).
 * The caller holds the project's lock, so none of them is still being
 * written. Another project's folder (a shared backup.dir) is left alone: it
 * may be a live run's.
 */
export function cleanTmp(dir: string, project: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const n of readdirSync(dir)) {
    if (!n.startsWith('.tmp-')) continue;
    const owner = /^\.tmp-[^.]+\.(.+)$/.exec(n)?.[1];
    if (owner !== undefined && owner !== project) continue;
    rmSync(path.join(dir, n), { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}

/** Every folder under `root` (itself included), deepest first: their entries must reach the disk too. */
function walkDirs(root: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) out.push(...walkDirs(path.join(root, e.name)));
  out.push(root);
  return out;
}

export function backupId(now: Date): string {
  return newRunId(now);
}

// ------------------------------------------------------------------ the flow

export async function takeBackup(stack: Stack, run: Run, opts: { stateDir: string; tag?: string; safety?: boolean }): Promise<BackupManifest> {
  const docker = new DockerClient();
  const dir = backupDir(stack, opts.stateDir);
  const now = run.io.now();
  const id = backupId(now);
  const tmp = path.join(dir, `.tmp-${id}.${stack.project}`);
  const passphrase = encryptionKey(stack, run.io.env);
  if (stack.backup.encryption_key_env && !passphrase) {
    throw new UsageError(`backup.encryption_key_env names ${stack.backup.encryption_key_env}, which is not set`, `export ${stack.backup.encryption_key_env}=...`);
  }
  const ext = passphrase ? '.enc' : '';
  const compression = dumpCompression(stack, opts.safety === true);
  const pgDump = ['pg_dump -Fc', ...compression].join(' ');
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
    const removed = cleanTmp(dir, stack.project);
    if (removed.length) run.info('backup', { removed_incomplete: removed });
    mkdirSync(tmp, { recursive: true });
  });

  try {
    if (stack.postgres?.external_url) {
      const pgc = stack.postgres;
      const url = pgc.external_url!;
      mkdirSync(path.join(tmp, 'postgres'), { recursive: true });
      const dbs = [pgc.database, ...pgc.databases.filter((d) => d !== pgc.database)];
      const first = externalTarget(url, pgc.database);
      const client = await run.step('postgres (external): version of the host pg_dump', () => hostToolMajor('pg_dump'));
      const pgOut: NonNullable<BackupManifest['contents']['postgres']> = { service: pgc.service, user: first.user ?? pgc.user, databases: [] };
      let server = 0;
      for (const db of dbs) {
        const t = externalTarget(url, db);
        await run.step(`postgres (external ${t.display}): ${pgDump} on this host (with row counts)`, async () => {
          const rel = `postgres/${db}.dump${ext}`;
          const r = await dumpExternal(t, client, path.join(tmp, rel), compression, passphrase);
          server = r.server;
          hashed.set(rel, r);
          pgOut.databases.push({ name: db, file: rel, rows: r.rows });
          run.info('backup', { database: db, bytes: r.size, tables: Object.keys(r.rows).length });
        });
      }
      await run.step('postgres (external): pg_dumpall --globals-only --no-role-passwords', async () => {
        const rel = `postgres/globals.sql${ext}`;
        try {
          hashed.set(rel, await streamCommandToFile(['pg_dumpall', '--globals-only', '--no-role-passwords', '-d', first.url], path.join(tmp, rel), { passphrase, env: externalEnv(first) }));
          pgOut.globals = rel;
        } catch (e) {
          // managed servers often refuse this to non-superusers; the globals are informational (never restored)
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || /no space left/.test((e as Error).message)) throw e;
          rmSync(path.join(tmp, rel), { force: true });
          run.say(`warning: roles and tablespaces not saved: ${(e as Error).message.split('\n').slice(-1)[0]}`);
        }
      });
      pgOut.external = { server: first.display.replace(/\/[^/]*$/, ''), server_version: server, pg_dump_version: client };
      manifest.contents.postgres = pgOut;
    }

    if (stack.postgres && !stack.postgres.external_url) {
      const pgc = stack.postgres;
      const c = await serviceContainer(docker, stack, pgc.service);
      mkdirSync(path.join(tmp, 'postgres'), { recursive: true });
      const dbs = [pgc.database, ...pgc.databases.filter((d) => d !== pgc.database)];
      const pgOut: NonNullable<BackupManifest['contents']['postgres']> = { service: pgc.service, user: pgc.user, databases: [] };
      for (const db of dbs) {
        await run.step(`postgres: ${pgDump} ${db} (with row counts)`, async () => {
          const rel = `postgres/${db}.dump${ext}`;
          const session = await openSnapshotSession(c, pgc.user, pgc.password, db);
          run.info('backup', { database: db, snapshot_and_row_counts: session.via });
          const r = await dumpDatabase(session, c.id, pgc.user, db, path.join(tmp, rel), compression, passphrase);
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
      const session = await openRedis(run, c, rs.password);
      try {
        await run.step(`redis: BGSAVE and wait for it (${session.via})`, () => redisSave(session));
        await run.step('redis: copy the data files out', async () => {
          const dataDir = (await session.configGet('dir')) ?? '/data';
          const dbfile = (await session.configGet('dbfilename')) ?? 'dump.rdb';
          const aof = ((await session.configGet('appendonly')) ?? (rs.appendonly ? 'yes' : 'no')) === 'yes';
          mkdirSync(path.join(tmp, 'redis'), { recursive: true });
          const files: string[] = [];
          const container = docker.api.getContainer(c.id);
          const grab = async (p: string, rel: string) => {
            const stream = (await container.getArchive({ path: path.posix.join(dataDir, p) })) as unknown as NodeJS.ReadableStream;
            hashed.set(rel, await streamToFile(stream, path.join(tmp, rel), passphrase));
            if (!files.includes(rel)) files.push(rel);
          };
          await grab(dbfile, `redis/${dbfile}.tar${ext}`);
          if (aof) {
            const adir = (await session.configGet('appenddirname')) ?? 'appendonlydir';
            // an AOF rewrite swaps the folder's files and manifest: copy it between rewrites
            for (let attempt = 1; ; attempt++) {
              const before = await waitNoRewrite(session);
              await grab(adir, `redis/${adir}.tar${ext}`);
              const after = await session.info();
              if (after.aof_rewrite_in_progress === '0' && after.aof_rewrites === before.aof_rewrites) break;
              if (attempt === 5) throw new OperationError('redis kept rewriting its AOF while it was being copied', 'try again');
            }
          }
          manifest.contents.redis = { service: rs.service, dir: dataDir, files };
        });
      } finally {
        session.close();
      }
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
        const rel = `volumes/${vol}.tar${ext}`;
        // one pass: the per-file list is read from the archive as it streams by.
        // GNU tar exits 1 when a file changed while it was read (a torn copy):
        // the volume is archived again, up to VOLUME_TRIES times in all.
        let lister = new TarLister();
        for (let attempt = 1; ; attempt++) {
          try {
            lister = new TarLister();
            hashed.set(rel, await streamCommandToFile([...base, 'tar -C /v -cf - .'], path.join(tmp, rel), { passphrase, through: lister }));
            break;
          } catch (e) {
            const changing = e instanceof OperationError && /exit 1\b/.test(e.message) && /(changed as we read it|before we read it|shrank)/.test(e.message);
            if (!changing) throw e;
            if (attempt === VOLUME_TRIES) {
              throw new OperationError(
                `volume ${full} kept changing while it was archived (${VOLUME_TRIES} tries); the incomplete backup was removed: ${e.message.split('): ').pop()}`,
                'stop what writes to it during the backup (lifeops backup after `docker compose stop <service>`), or schedule the backup for a quiet time',
              );
            }
            run.say(`volume ${vol}: a file changed while it was read; archiving it again (try ${attempt + 1} of ${VOLUME_TRIES})`);
          }
        }
        const listRel = `volumes/${vol}.sha256${ext}`;
        hashed.set(listRel, await streamToFile(Readable.from([Buffer.from(lister.list())]), path.join(tmp, listRel), passphrase));
        manifest.contents.volumes.push({ name: vol, volume: full, file: rel, list: listRel });
      });
    }

    await run.step('release in force: images and rendered files', async () => {
      const containers = await docker.projectContainers(stack.project);
      await Promise.all(
        Object.entries(stack.services).map(async ([name, svc]) => {
          const image = mapImage(svc.image, stack.images);
          const running = containers.find((c) => c.service === name);
          const imageId = running?.imageId ?? (await docker.imageId(image));
          manifest.release.images[name] = { image: running?.image ?? image, ...(imageId ? { id: imageId } : {}) };
        }),
      );
      manifest.release.images = Object.fromEntries(Object.keys(stack.services).map((n) => [n, manifest.release.images[n]]));
      const last = readReleases(opts.stateDir, stack.env).filter((r) => r.outcome === 'success').pop();
      if (last) Object.assign(manifest.release, { run_id: last.run_id, version: last.version, config_hash: last.config_hash });
      const renderDir = renderDirFor(opts.stateDir, stack.env);
      if (existsSync(renderDir)) {
        // secret files stay out: a rollback writes them from the environment it runs in
        const secrets = path.join(renderDir, SECRET_FILES_DIR);
        cpSync(renderDir, path.join(tmp, 'release'), { recursive: true, filter: (src) => src !== secrets });
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
      try {
        writeFileSynced(mf, JSON.stringify(manifest, null, 2) + '\n', 'w', 0o600);
      } catch (e) {
        throw writeError(e, mf);
      }
      for (const d of walkDirs(tmp)) fsyncPath(d);
      renameSync(tmp, path.join(dir, id));
      fsyncPath(dir);
    });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // a full disk anywhere (rendered files, a helper's output) gets the same one-line error
    const code = (e as NodeJS.ErrnoException).code;
    throw code === 'ENOSPC' || code === 'EDQUOT' ? writeError(e, tmp) : e;
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

/**
 * One marker file per verified backup, <dir>/.verified/<id>, holding the time
 * of the last successful verify: written by rename, so two runs (two
 * environments or two stacks sharing a backup.dir) never lose each other's
 * marks. A verified.json from older versions is still read.
 */
const verifiedDir = (dir: string) => path.join(dir, '.verified');

export function readVerified(dir: string): Record<string, string> {
  let marks: Record<string, string> = {};
  try {
    marks = JSON.parse(readFileSync(path.join(dir, 'verified.json'), 'utf8')) as Record<string, string>;
  } catch {
    // none from an older version
  }
  if (!existsSync(verifiedDir(dir))) return marks;
  for (const id of readdirSync(verifiedDir(dir))) {
    if (id.includes('.tmp-')) continue;
    try {
      marks[id] = readFileSync(path.join(verifiedDir(dir), id), 'utf8').trim();
    } catch {
      // removed meanwhile by retention
    }
  }
  return marks;
}

export function markVerified(dir: string, id: string, when: Date): void {
  mkdirSync(verifiedDir(dir), { recursive: true });
  const mark = path.join(verifiedDir(dir), id);
  writeFileSync(`${mark}.tmp-${process.pid}`, when.toISOString() + '\n');
  renameSync(`${mark}.tmp-${process.pid}`, mark);
}

export function forgetVerified(dir: string, id: string): void {
  rmSync(path.join(verifiedDir(dir), id), { force: true });
}

/**
 * Complete backups of one project (and environment, when given), oldest
 * first. A shared backup.dir holds other stacks' backups too: they are never
 * listed, kept or deleted here.
 */
export function listBackups(dir: string, project: string, env?: string): BackupSummary[] {
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
    if (m.project !== project || (env && m.env !== env)) continue;
    out.push({ id: m.id, env: m.env, time: m.time, ...(m.tag ? { tag: m.tag } : {}), size: m.size, ...(verified[m.id] ? { verified: verified[m.id] } : {}) });
  }
  return out.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}
