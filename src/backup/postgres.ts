// Postgres in a backup: one database dumped with pg_dump -Fc and its per-table
// row counts taken in the SAME snapshot, so a verify that restores the dump
// can compare counts exactly. A session exports a REPEATABLE READ snapshot;
// pg_dump --snapshot reads exactly it while the session counts rows in it;
// the session commits when both are done.
//
// The backup flow reaches Postgres through a PostgresSource: the db service's
// container (this file) or an external server with the host's client tools
// (external.ts). Both give the same steps and the same manifest entries.
import type { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { ContainerState } from '../clients/docker.js';
import { connectPostgres, type PgClient } from '../clients/postgres.js';
import type { CommandPort } from '../clients/port.js';
import { containerDumpArgv, containerGlobalsArgv, containerPsqlSessionArgv } from '../commands/postgres.js';
import { PRIVATE_FILE } from '../util/private-files.js';
import { HashCounter, fileStages, fsyncPath, hashWhileWritten, streamCommandToFile, writeError, type PostgresContents, type Written } from './format.js';

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

/** A dumped database: its row counts and the file written. */
export type Dumped = Written & { rows: Record<string, number> };

/**
 * Where the backup flow gets Postgres from. The flow runs the same steps for
 * every source: each database dumped (with row counts), then the globals.
 */
export interface PostgresSource {
  /** what the manifest records: service and user, and `external` once the dumps are done */
  contents(): Omit<PostgresContents, 'databases' | 'globals'>;
  /** title of the step dumping `db` with `pgDump` (e.g. "pg_dump -Fc -Z1") */
  dumpTitle(db: string, pgDump: string): string;
  dump(db: string, file: string, compression: string[], passphrase: string | undefined, info: (fields: Record<string, unknown>) => void): Promise<Dumped>;
  readonly globalsTitle: string;
  /** roles and tablespaces into `file`; undefined when the server refused them (`warn` told why) */
  dumpGlobals(file: string, passphrase: string | undefined, warn: (message: string) => void): Promise<Written | undefined>;
}

/**
 * The session that exports the snapshot pg_dump reads and counts rows in it:
 * BEGIN REPEATABLE READ, pg_export_snapshot(), the counts, then COMMIT once
 * the dump is done. Closing it before then rolls it back.
 */
export interface SnapshotSession {
  readonly via: string;
  exportSnapshot(): Promise<string>;
  countRows(): Promise<Record<string, number>>;
  commit(): Promise<void>;
  close(): Promise<void>;
}

/** Snapshot and row counts on a pg connection (an external server's, or a db service's published 127.0.0.1 port). */
export function pgSnapshotSession(client: PgClient, via: string): SnapshotSession {
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

/** The same over `docker exec psql` in the db container (a read through the port), for a db service that publishes no port. */
function psqlSnapshotSession(port: CommandPort, containerId: string, user: string, db: string): SnapshotSession {
  const psql = port.readSession(containerPsqlSessionArgv(containerId, user, db), 'psql in the database container');
  /** send SQL, then wait for the marker it selects last; what came before it */
  const ask = (sql: string, marker: string) => psql.ask(`${sql}\nSELECT '${marker}';\n`, marker);
  return {
    via: 'docker exec psql',
    exportSnapshot: async () => {
      const snapshot = (await ask('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();', '@@SNAP')).trim().split('\n').pop()!.trim();
      if (!/^[0-9A-F-]+$/i.test(snapshot)) throw new OperationError(`could not export a snapshot from ${db}: ${psql.stderr()}`);
      return snapshot;
    },
    countRows: async () => parseRowCounts(await ask(ROW_COUNT_SQL, '@@ROWS')),
    commit: () => psql.finish('COMMIT;\n'),
    close: () => psql.close(),
  };
}

/** pg on the db service's published 127.0.0.1 port when there is one and it answers, else psql in the container. */
async function openSnapshotSession(port: CommandPort, c: ContainerState, user: string, password: string | undefined, db: string): Promise<SnapshotSession> {
  const published = c.ports[5432];
  if (published) {
    try {
      const client = await connectPostgres({ host: '127.0.0.1', port: published, user, password, database: db, connectionTimeoutMillis: 5000 });
      return pgSnapshotSession(client, `pg on 127.0.0.1:${published}`);
    } catch {
      // no answer on the port: psql in the container below
    }
  }
  return psqlSnapshotSession(port, c.id, user, db);
}

/**
 * Dump one database inside its container, with row counts taken in the same
 * snapshot: pg_dump --snapshot dumps exactly the session's snapshot while the
 * session counts rows in it, both at once. pg_dump's output goes straight
 * into the file (the docker CLI writes it, as `> file` would), hashed from the
 * page cache as it grows; an encrypted backup streams through the cipher
 * instead. The file is fsynced before this returns.
 */
async function dumpDatabase(port: CommandPort, session: SnapshotSession, containerId: string, user: string, db: string, file: string, compression: string[], passphrase?: string): Promise<Dumped> {
  let fh: FileHandle | undefined;
  try {
    fh = passphrase ? undefined : await openFile(file, 'w+', PRIVATE_FILE);
    await fh?.chmod(PRIVATE_FILE); // open's mode is masked by the umask
  } catch (e) {
    await session.close();
    throw writeError(e, file);
  }
  const { child: dump, lifeline } = port.readTied(containerDumpArgv(containerId, user, db, compression), fh ? fh.fd : 'pipe');
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
  let dumping: Promise<Written> | undefined;
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
      let written: Written | undefined;
      let writeErr: unknown;
      if (fh) {
        written = await hashWhileWritten(fh, () => exited, exit).catch((e) => {
          writeErr = e;
          void stopDump();
          return undefined;
        });
      } else {
        const counter = new HashCounter();
        const stages: (Readable | Transform | Writable)[] = [dump.stdout!, ...fileStages(file, passphrase, counter)];
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

/** The db service's container: pg_dump and pg_dumpall run inside it (client and server versions match). */
export function containerPostgres(port: CommandPort, c: ContainerState, pgc: NonNullable<Stack['postgres']>): PostgresSource {
  return {
    contents: () => ({ service: pgc.service, user: pgc.user }),
    dumpTitle: (db, pgDump) => `postgres: ${pgDump} ${db} (with row counts)`,
    dump: async (db, file, compression, passphrase, info) => {
      const session = await openSnapshotSession(port, c, pgc.user, pgc.password, db);
      info({ database: db, snapshot_and_row_counts: session.via });
      return dumpDatabase(port, session, c.id, pgc.user, db, file, compression, passphrase);
    },
    globalsTitle: 'postgres: pg_dumpall --globals-only',
    dumpGlobals: (file, passphrase) => streamCommandToFile(port, containerGlobalsArgv(c.id, pgc.user), file, { passphrase }),
  };
}
