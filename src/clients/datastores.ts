// Postgres and Redis checks through their real clients (pg, ioredis), on a
// port the stack publishes on 127.0.0.1.
import { createRequire } from 'node:module';
import type pgModule from 'pg';
import type { Redis as RedisClient } from 'ioredis';

// Loaded on first use, so commands that never reach a database start faster.
const requireLazy = createRequire(import.meta.url);
const pgLib = () => requireLazy('pg') as typeof pgModule;
const RedisLib = () => (requireLazy('ioredis') as { Redis: typeof RedisClient }).Redis;

export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  timeoutMs?: number;
}

/** One query on a short-lived connection; the rows as pg returns them. */
export async function postgresQuery<T = Record<string, unknown>>(opts: PostgresTarget, sql: string): Promise<T[]> {
  const client = new (pgLib().Client)({
    host: opts.host,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    database: opts.database,
    connectionTimeoutMillis: opts.timeoutMs ?? 3000,
    query_timeout: opts.timeoutMs ?? 3000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

export async function postgresSelect1(opts: PostgresTarget): Promise<void> {
  const rows = await postgresQuery<{ ok: number }>(opts, 'SELECT 1 AS ok');
  if (rows[0]?.ok !== 1) throw new Error('SELECT 1 returned no row');
}

/**
 * An ioredis client that fails fast instead of queueing and reconnecting:
 * one connect attempt, no offline queue, no retries (the caller decides).
 */
export async function connectRedis(opts: { host: string; port: number; password?: string; connectTimeoutMs?: number; commandTimeoutMs?: number }): Promise<RedisClient> {
  const Redis = RedisLib();
  const client = new Redis({
    host: opts.host,
    port: opts.port,
    password: opts.password || undefined,
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutMs ?? 3000,
    commandTimeout: opts.commandTimeoutMs ?? 3000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (e) {
    client.disconnect();
    throw e;
  }
}

export async function redisPing(opts: { host: string; port: number; password?: string; timeoutMs?: number }): Promise<void> {
  const client = await connectRedis({ ...opts, connectTimeoutMs: opts.timeoutMs, commandTimeoutMs: opts.timeoutMs });
  try {
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
  } finally {
    client.disconnect();
  }
}
