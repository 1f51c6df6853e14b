// Postgres and Redis on a port the stack publishes on 127.0.0.1: queries and
// backups through their client packages (pg, ioredis); status's SELECT 1 and
// PING through the protocols themselves (pgwire.ts, redisPing), which spares
// every cron `status` run the packages' module loading.
import { createRequire } from 'node:module';
import net from 'node:net';
import type pgModule from 'pg';
import { pgSimpleQuery } from './pgwire.js';
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

/** SELECT 1 through lifeops' own protocol client (clients/pgwire.ts): status's one query needs no pg. */
export async function postgresSelect1(opts: PostgresTarget): Promise<void> {
  const rows = await pgSimpleQuery(opts, 'SELECT 1');
  if (rows[0]?.[0] !== '1') throw new Error(`SELECT 1 returned ${rows.length ? JSON.stringify(rows[0]) : 'no row'}`);
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

/**
 * PING on a short-lived connection, in RESP itself (AUTH first when the stack
 * sets a password): status's one Redis command does not need ioredis' module
 * graph (0.1-0.25 s of CPU to load). A server without a password that is
 * sent one answers AUTH with an error and PING still: accepted, as ioredis
 * does.
 */
export function redisPing(opts: { host: string; port: number; password?: string; timeoutMs?: number }): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const auth = !!opts.password;
  return new Promise<void>((resolve, reject) => {
    const sock = net.createConnection({ host: opts.host, port: opts.port });
    let text = '';
    let done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`no answer from Redis at ${opts.host}:${opts.port} in ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      text += chunk;
      const replies = text.split('\r\n');
      if (replies.length < (auth ? 3 : 2)) return; // every reply here is one line
      const [authReply, pong] = auth ? replies : [undefined, replies[0]];
      if (authReply?.startsWith('-') && !/no password is set|without any password configured/i.test(authReply)) return finish(new Error(authReply.slice(1)));
      if (pong.startsWith('-')) return finish(new Error(pong.slice(1)));
      if (pong !== '+PONG') return finish(new Error(`PING answered ${pong.replace(/^\+/, '')}`));
      finish();
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`Redis at ${opts.host}:${opts.port} closed the connection`)));
    sock.write((auth ? resp('AUTH', opts.password!) : '') + resp('PING'));
  });
}
