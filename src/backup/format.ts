// The archive format: what a backup folder holds (its manifest), how a file
// is encrypted, and the helpers that write files whole (hashed, fsynced) or
// read them back. A folder without a manifest is not a backup: manifest.json
// is written LAST, after every file's checksum.
import { openSync, fsyncSync, fchmodSync, closeSync, createWriteStream, createReadStream, readdirSync, statSync } from 'node:fs';
import { PRIVATE_FILE } from '../util/private-files.js';
import path from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileHandle } from 'node:fs/promises';
import { createHash, randomBytes, scryptSync, createCipheriv, createDecipheriv, type DecipherGCM } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { LifeopsError, OperationError, UsageError } from '../errors.js';
import type { CommandPort } from '../clients/port.js';

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
    postgres?: PostgresContents;
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

export interface PostgresContents {
  service: string;
  user: string;
  databases: { name: string; file: string; rows: Record<string, number> }[];
  globals?: string;
  /** backup.pitr: a physical copy of the data directory (pg_basebackup tar) that `rollback --to` replays the WAL archive on */
  base_backup?: { file: string; start_wal: string; start_time: string; end_time: string };
  /** set when the database is outside the stack (postgres.external_url), dumped by the host's pg_dump */
  external?: { server: string; server_version: number; pg_dump_version: number };
}

/** sha256 and size of a written file. */
export type Written = { sha256: string; size: number };

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

// ------------------------------------------------------------------ writing

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

/**
 * The stages that end a backup file: optional cipher, the hash counter, the
 * file (0600 whatever the umask: the stream sets it as soon as it is open).
 */
export function fileStages(file: string, passphrase: string | undefined, counter: HashCounter): (Transform | Writable)[] {
  const out = createWriteStream(file, { mode: PRIVATE_FILE });
  out.once('open', (fd: number) => {
    try {
      fchmodSync(fd, PRIVATE_FILE);
    } catch (e) {
      out.destroy(e as Error);
    }
  });
  return [...(passphrase ? [encryptStream(passphrase)] : []), counter, out];
}

/** A stream into a backup file (encrypted when a passphrase is given), fsynced; its sha256 and size. */
export async function streamToFile(src: NodeJS.ReadableStream, file: string, passphrase?: string): Promise<Written> {
  const counter = new HashCounter();
  try {
    await (pipeline as (...s: unknown[]) => Promise<void>)(src, ...fileStages(file, passphrase, counter));
    fsyncPath(file);
  } catch (e) {
    throw writeError(e, file);
  }
  return { sha256: counter.hash.digest('hex'), size: counter.size };
}

/**
 * Run argv (a read, through the run's port), streaming its stdout (through
 * `through`, then optionally encrypted) into `file`; returns the written
 * file's sha256 and size. stderr kept (tail) for the error message.
 */
export async function streamCommandToFile(port: CommandPort, argv: string[], file: string, opts: { passphrase?: string; env?: Record<string, string>; through?: Transform } = {}): Promise<Written> {
  const counter = new HashCounter();
  const r = await port.readStream(argv, [...(opts.through ? [opts.through] : []), ...fileStages(file, opts.passphrase, counter)], opts.env ? { env: opts.env } : undefined);
  const failed = r.exitCode !== 0 ? new OperationError(`${argv.slice(0, 4).join(' ')} … failed (exit ${r.exitCode}): ${r.stderrTail}`) : undefined;
  // a write error (full disk) explains a killed command; otherwise the command's own error comes first
  if (r.pipeErr && (/^E[A-Z]+$/.test(String((r.pipeErr as NodeJS.ErrnoException).code)) || !failed)) throw writeError(r.pipeErr, file);
  if (failed) throw failed;
  try {
    fsyncPath(file);
  } catch (e) {
    throw writeError(e, file);
  }
  return { sha256: counter.hash.digest('hex'), size: counter.size };
}

/** flush what has been written so far to disk every this many bytes, so the final fsync finds little left */
const FLUSH_EVERY = 64 << 20;

/**
 * sha256 and size of a file that another process is appending to (its stdout
 * is this file), read back from the page cache while it is written; ends when
 * `exited()` was true before a read that found nothing more. Meanwhile the
 * written data is flushed to disk (one fdatasync at a time).
 */
export async function hashWhileWritten(fh: FileHandle, exited: () => boolean, wake: Promise<unknown>): Promise<Written> {
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

/** Every file under `dir`, relative, sorted. */
export function walkFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(path.join(dir, r)).isDirectory()) out.push(...walkFiles(dir, r));
    else out.push(r);
  }
  return out;
}

/** Every folder under `root` (itself included), deepest first: their entries must reach the disk too. */
export function walkDirs(root: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) out.push(...walkDirs(path.join(root, e.name)));
  out.push(root);
  return out;
}

// ------------------------------------------------------------------ reading

/** A readable of a backup file's plain bytes (decrypted when the backup is encrypted). */
export function plainStream(stack: Stack, env: Record<string, string | undefined>, manifest: BackupManifest, file: string): Readable {
  const src = createReadStream(file, { highWaterMark: 1 << 20 });
  if (!manifest.encrypted) return src;
  const key = encryptionKey(stack, env);
  if (!key) throw new UsageError(`backup ${manifest.id} is encrypted and ${stack.backup.encryption_key_env ?? 'the key variable'} is not set`);
  return src.pipe(decryptStream(key));
}

/**
 * What a restore feeds a command: the decrypted stream of an encrypted backup
 * file, else the file itself (handed to the command as its stdin, as `< file`
 * would: no copy through this process).
 */
export function plainInput(stack: Stack, env: Record<string, string | undefined>, manifest: BackupManifest, file: string): Readable | { file: string } {
  return manifest.encrypted ? plainStream(stack, env, manifest, file) : { file };
}

/** A backup file's plain text (small files: lists). */
export async function readPlain(stack: Stack, env: Record<string, string | undefined>, manifest: BackupManifest, file: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of plainStream(stack, env, manifest, file)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
