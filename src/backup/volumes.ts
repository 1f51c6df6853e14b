// Named volumes in a backup: a tar of the volume made in a helper container,
// and beside it the sha256 of every regular file, read from the archive
// itself as it streams by (one pass). A restore extracts the tar and checks
// that what landed matches that list, file by file.
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { DockerClient } from '../clients/docker.js';
import type { CommandPort } from '../clients/port.js';
import { streamCommandToFile, streamToFile, type Written } from './format.js';

/** how many times a volume whose files change while tar reads them is archived before the backup fails */
const VOLUME_TRIES = 3;

/** The Docker name of a stack volume: its declared name, the key itself when external, else compose's <project>_<key>. */
export function volumeName(stack: Stack, vol: string): string {
  const declared = stack.volumes?.[vol];
  if (declared?.name) return declared.name;
  if (declared?.external) return vol;
  return `${stack.project}_${vol}`;
}

/**
 * Archive the volume `full` into `<folder>/<rel>` and its file list into
 * `<folder>/<listRel>`. GNU tar exits 1 when a file changed while it was read
 * (a torn copy): the volume is archived again, up to VOLUME_TRIES times in
 * all; `retrying` hears of each new try.
 */
export async function archiveVolume(
  docker: DockerClient,
  port: CommandPort,
  o: { full: string; configured: string; image: string; folder: string; rel: string; listRel: string; passphrase?: string; retrying: (attempt: number, tries: number) => void },
): Promise<Map<string, Written>> {
  try {
    await docker.api.getVolume(o.full).inspect();
  } catch {
    throw new OperationError(`volume ${o.full} (backup.volumes: ${o.configured}) does not exist`);
  }
  const argv = ['docker', 'run', '--rm', '--network', 'none', '--entrypoint', 'sh', '-v', `${o.full}:/v:ro`, o.image, '-c', 'tar -C /v -cf - .'];
  const written = new Map<string, Written>();
  let lister = new TarLister();
  for (let attempt = 1; ; attempt++) {
    try {
      lister = new TarLister();
      written.set(o.rel, await streamCommandToFile(port, argv, path.join(o.folder, o.rel), { passphrase: o.passphrase, through: lister }));
      break;
    } catch (e) {
      const changing = e instanceof OperationError && /exit 1\b/.test(e.message) && /(changed as we read it|before we read it|shrank)/.test(e.message);
      if (!changing) throw e;
      if (attempt === VOLUME_TRIES) {
        throw new OperationError(
          `volume ${o.full} kept changing while it was archived (${VOLUME_TRIES} tries); the incomplete backup was removed: ${e.message.split('): ').pop()}`,
          'stop what writes to it during the backup (lifeops backup after `docker compose stop <service>`), or schedule the backup for a quiet time',
        );
      }
      o.retrying(attempt + 1, VOLUME_TRIES);
    }
  }
  written.set(o.listRel, await streamToFile(Readable.from([Buffer.from(lister.list())]), path.join(o.folder, o.listRel), o.passphrase));
  return written;
}

/**
 * Replace the volume's files with the tar on `tar`, then check every file
 * against `expectedList` (sha256sum format). The same container lists what
 * landed, so a short or failed extraction cannot pass. Returns how many files.
 */
export async function restoreVolume(port: CommandPort, volume: string, image: string, tar: Readable, expectedList: string, backupId: string): Promise<number> {
  const expected = parseSumList(expectedList);
  const landed = await port.changeFrom(
    ['docker', 'run', '--rm', '-i', '--network', 'none', '--entrypoint', 'sh', '-v', `${volume}:/v`, image, '-c', 'find /v -mindepth 1 -delete && tar -C /v -xf - && cd /v && find . -type f -print0 | sort -z | xargs -0 -r sha256sum'],
    tar,
    `restoring volume ${volume}`,
  );
  const got = parseSumList(landed);
  const problems: string[] = [];
  for (const [p, sha] of expected) if (got.get(p) !== sha) problems.push(`${p}: ${got.has(p) ? 'content differs' : 'missing'}`);
  for (const p of got.keys()) if (!expected.has(p)) problems.push(`${p}: not in the backup`);
  if (problems.length) {
    throw new OperationError(`volume ${volume} does not match backup ${backupId} after the restore (${problems.length} files):\n  ${problems.slice(0, 10).join('\n  ')}`);
  }
  return got.size;
}

// ------------------------------------------------------------------ reading tar

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
