// A database outside the stack (postgres.external_url), backed up and
// restored with the host's PostgreSQL client tools. The URL's password never
// reaches argv, a message or a log: the tools get it through PGPASSWORD.
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import { connectPostgres, type PgClient } from '../clients/postgres.js';
import type { CommandPort } from '../clients/port.js';
import { externalDumpArgv, externalGlobalsArgv } from '../commands/postgres.js';
import { streamCommandToFile } from './format.js';
import { pgSnapshotSession, type Dumped, type PostgresSource } from './postgres.js';
import { rmSync } from 'node:fs';

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
export async function hostToolMajor(port: CommandPort, tool: 'pg_dump' | 'pg_restore' | 'pg_dumpall'): Promise<number> {
  // a program that is not installed cannot start (ENOENT): said as such below
  const r = await port.read([tool, '--version'], { timeoutMs: 30_000 }).catch((e: Error) => {
    if (/ENOENT/.test(e.message)) return undefined;
    throw e;
  });
  if (!r) {
    throw new OperationError(`${tool} is not installed on this machine: an external database (postgres.external_url) is backed up and restored with the host's PostgreSQL client tools`, 'apt-get install postgresql-client (the server\'s major version or newer)');
  }
  const m = /\s(\d+)(?:\.\d+)?/.exec(r.stdout);
  if (r.exitCode !== 0 || !m) throw new OperationError(`${tool} --version failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return Number(m[1]);
}

/** A connected pg client, or a one-line error naming the server (never the URL). */
export async function externalClient(t: ExternalTarget): Promise<PgClient> {
  try {
    return await connectPostgres({ connectionString: t.conn, connectionTimeoutMillis: 10_000 });
  } catch (e) {
    throw new OperationError(`cannot connect to the external database ${t.display}: ${(e as Error).message}`, 'check postgres.external_url and that the server accepts connections from this machine');
  }
}

/** The server's major version (SHOW server_version_num: 150004 -> 15). */
export async function serverMajor(client: PgClient): Promise<number> {
  const n = Number((await client.query('SHOW server_version_num')).rows[0]?.server_version_num);
  if (!Number.isFinite(n) || n <= 0) throw new OperationError('the external database did not report server_version_num');
  return Math.floor(n / 10000);
}

/**
 * Dump one external database with the host's pg_dump, row counts from the
 * same snapshot: a REPEATABLE READ transaction exports its snapshot, counts
 * rows in it, and pg_dump --snapshot reads exactly that; then it commits.
 */
async function dumpExternal(port: CommandPort, t: ExternalTarget, clientMajor: number, file: string, compression: string[], passphrase?: string): Promise<Dumped & { server: number }> {
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
    const res = await streamCommandToFile(port, externalDumpArgv(t.url, snapshot, compression), file, { passphrase, env: externalEnv(t) });
    const rows = await counting;
    await session.commit();
    return { rows, ...res, server };
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * An external server, dumped by the host's pg_dump (whose version is asked
 * here: it must be at least the server's).
 */
export async function externalPostgres(port: CommandPort, pgc: NonNullable<Stack['postgres']>): Promise<PostgresSource & { target(db: string): ExternalTarget }> {
  const url = pgc.external_url!;
  const first = externalTarget(url, pgc.database);
  const client = await hostToolMajor(port, 'pg_dump');
  let server = 0;
  return {
    target: (db) => externalTarget(url, db),
    contents: () => ({
      service: pgc.service,
      user: first.user ?? pgc.user,
      external: { server: first.display.replace(/\/[^/]*$/, ''), server_version: server, pg_dump_version: client },
    }),
    dumpTitle: (db, pgDump) => `postgres (external ${externalTarget(url, db).display}): ${pgDump} on this host (with row counts)`,
    dump: async (db, file, compression, passphrase) => {
      const r = await dumpExternal(port, externalTarget(url, db), client, file, compression, passphrase);
      server = r.server;
      return r;
    },
    globalsTitle: 'postgres (external): pg_dumpall --globals-only --no-role-passwords',
    dumpGlobals: async (file, passphrase, warn) => {
      try {
        return await streamCommandToFile(port, externalGlobalsArgv(first.url), file, { passphrase, env: externalEnv(first) });
      } catch (e) {
        // managed servers often refuse this to non-superusers; the globals are informational (never restored)
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || /no space left/.test((e as Error).message)) throw e;
        rmSync(file, { force: true });
        warn(`warning: roles and tablespaces not saved: ${(e as Error).message.split('\n').slice(-1)[0]}`);
        return undefined;
      }
    },
  };
}
