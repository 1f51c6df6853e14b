// Redis in a backup: BGSAVE and wait until a save started after the request
// succeeded, then the data files (dump.rdb, and the AOF folder when AOF is
// on) copied out through the Docker archive API as tars; and the way back.
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { ContainerState, DockerClient } from '../clients/docker.js';
import { connectRedis } from '../clients/datastores.js';
import type { CommandPort } from '../clients/port.js';
import { portExec } from '../clients/port-exec.js';
import { streamToFile, type Written } from './format.js';

/** The few Redis commands a backup needs, over ioredis or over docker exec redis-cli. */
export interface RedisSession {
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

const parseInfo = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );

const stripQuotes = (s: string) => s.trim().replace(/^"(.*)"$/, '$1').replace(/^\(integer\) /, '');

/** redis-cli's password travels in its environment, never on a command line. */
const cliAuth = (password: string | undefined) => (password ? { envNames: ['REDISCLI_AUTH'], env: { REDISCLI_AUTH: password } } : {});

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

/** The fallback when Redis publishes no port: one docker exec per command, through the port (BGSAVE a change, the rest reads). */
function execSession(port: CommandPort, id: string, password: string | undefined): RedisSession {
  const cli = (args: string[], kind: 'read' | 'change' = 'read') => portExec(port, kind, id, ['redis-cli', ...args], cliAuth(password));
  return {
    via: 'docker exec redis-cli',
    info: async () => parseInfo(await cli(['INFO', 'persistence'])),
    time: async () => Number(stripQuotes((await cli(['TIME'])).split('\n')[0])),
    lastsave: async () => Number(stripQuotes(await cli(['LASTSAVE']))),
    bgsave: async () => {
      try {
        return (await cli(['BGSAVE'], 'change')).trim();
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

/** ioredis through the port Redis publishes on 127.0.0.1 when there is one, else docker exec; `note` hears why the port was not used. */
export async function openRedis(port: CommandPort, c: ContainerState, password: string | undefined, note: (message: string) => void): Promise<RedisSession> {
  const published = c.ports[6379];
  if (published) {
    try {
      return await ioredisSession(published, password);
    } catch (e) {
      note(`127.0.0.1:${published} did not answer (${(e as Error).message}); using docker exec`);
    }
  }
  return execSession(port, c.id, password);
}

/** BGSAVE, then wait until a save started after this call succeeded; `sleep` between polls (the port's). */
export async function redisSave(s: RedisSession, sleep: (ms: number) => Promise<void>, timeoutMs = 300_000): Promise<void> {
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
async function waitNoRewrite(s: RedisSession, sleep: (ms: number) => Promise<void>, timeoutMs = 300_000): Promise<Record<string, string>> {
  const t0 = Date.now();
  for (;;) {
    const info = await s.info();
    if (info.aof_rewrite_in_progress !== '1' && info.aof_rewrite_scheduled !== '1') return info;
    if (Date.now() - t0 > timeoutMs) throw new OperationError('redis: an AOF rewrite is still running', 'try again later');
    await sleep(200);
  }
}

/**
 * Copy the saved data files out of the container into `<folder>/redis/`, one
 * tar each (ext: '.enc' when encrypted). Returns the data dir, the files
 * relative to `folder`, and each one's checksum.
 */
export async function copyRedisOut(
  port: CommandPort,
  session: RedisSession,
  docker: DockerClient,
  containerId: string,
  o: { folder: string; ext: string; passphrase?: string; appendonly: boolean },
): Promise<{ dir: string; files: string[]; written: Map<string, Written> }> {
  const dataDir = (await session.configGet('dir')) ?? '/data';
  const dbfile = (await session.configGet('dbfilename')) ?? 'dump.rdb';
  const aof = ((await session.configGet('appendonly')) ?? (o.appendonly ? 'yes' : 'no')) === 'yes';
  const files: string[] = [];
  const written = new Map<string, Written>();
  const container = docker.api.getContainer(containerId);
  const grab = async (p: string, rel: string) => {
    const stream = (await container.getArchive({ path: path.posix.join(dataDir, p) })) as unknown as NodeJS.ReadableStream;
    written.set(rel, await streamToFile(stream, path.join(o.folder, rel), o.passphrase));
    if (!files.includes(rel)) files.push(rel);
  };
  await grab(dbfile, `redis/${dbfile}.tar${o.ext}`);
  if (aof) {
    const adir = (await session.configGet('appenddirname')) ?? 'appendonlydir';
    // an AOF rewrite swaps the folder's files and manifest: copy it between rewrites
    for (let attempt = 1; ; attempt++) {
      const before = await waitNoRewrite(session, (ms) => port.sleep(ms));
      await grab(adir, `redis/${adir}.tar${o.ext}`);
      const after = await session.info();
      if (after.aof_rewrite_in_progress === '0' && after.aof_rewrites === before.aof_rewrites) break;
      if (attempt === 5) throw new OperationError('redis kept rewriting its AOF while it was being copied', 'try again');
    }
  }
  return { dir: dataDir, files, written };
}

/**
 * Stop Redis, replace its data files with a backup's, start it and wait for
 * PING. `input` gives each backup file's plain bytes; `helperImage` an image
 * to clear the data volume with.
 */
export async function restoreRedisFiles(
  docker: DockerClient,
  port: CommandPort,
  stack: Stack,
  c: ContainerState,
  rd: { service: string; dir: string; files: string[] },
  input: (file: string) => Readable | { file: string },
  helperImage: () => Promise<string>,
): Promise<void> {
  // stopped and started through the port (changes a dry run refuses); the engine API only reads
  const container = docker.api.getContainer(c.id);
  if ((await container.inspect()).State.Running) await port.change(['docker', 'stop', '-t', '30', c.id], { timeoutMs: 120_000 });
  // Remove the live AOF first: Redis would load it instead of dump.rdb, and when the backup
  // carries an AOF folder, newer files left beside it would otherwise survive the copy.
  const mount = (await container.inspect()).Mounts.find((m) => m.Destination === rd.dir);
  const source = mount?.Name ?? mount?.Source;
  if (source) {
    const image = await helperImage();
    await port.change(['docker', 'run', '--rm', '--network', 'none', '--entrypoint', 'sh', '-v', `${source}:/d`, image, '-c', 'rm -rf /d/appendonlydir /d/appendonly.aof*']);
  }
  // each file is a tar from the archive API; `docker cp -` takes it as a stream (no copy in memory)
  for (const f of rd.files) {
    await port.changeFrom(['docker', 'cp', '-', `${c.id}:${rd.dir}`], input(f), `docker cp ${f} into ${rd.service}:${rd.dir}`);
  }
  await port.change(['docker', 'start', c.id], { timeoutMs: 120_000 });
  const pass = stack.redis?.password;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await portExec(port, 'read', c.id, ['redis-cli', 'PING'], cliAuth(pass))).includes('PONG')) return;
    } catch {
      /* loading */
    }
    await port.sleep(200);
  }
  throw new OperationError('redis did not answer PING after the restore');
}
