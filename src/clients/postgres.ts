// Long-lived pg connections for backups (a snapshot held open while pg_dump
// reads it). Short one-query checks are in datastores.ts.
import { createRequire } from 'node:module';
import type pgModule from 'pg';

// Loaded on first use, so commands that never reach a database start faster.
const requireLazy = createRequire(import.meta.url);
const pgLib = () => requireLazy('pg') as typeof pgModule;

export type PgClient = pgModule.Client;

/** A connected pg client; on failure the connection is closed and the error thrown. */
export async function connectPostgres(config: pgModule.ClientConfig): Promise<PgClient> {
  const client = new (pgLib().Client)(config);
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return client;
}
