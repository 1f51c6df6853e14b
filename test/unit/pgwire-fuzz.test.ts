// status's own Postgres client (src/clients/pgwire.ts) against fuzzed server
// replies: valid v3 streams for each authentication path (trust, cleartext,
// MD5, SCRAM-SHA-256), a failed login and a failed query, one reply of each
// mutated with a seeded PRNG (bit flips, truncation, length fields too big,
// too small or negative, random bytes, duplicated or missing replies), often
// delivered a few bytes per TCP write, from a loopback server
// (test/unit/pgwire-fuzz-kit.ts). Every case must settle: the exact result
// when nothing was mutated, otherwise rows of text or an Error, never an
// uncaught exception, never a hang past its deadline, never the password in
// an error, and the client's socket closed afterwards. The seed is printed;
// PGWIRE_FUZZ_SEED=N replays a run (default: the day of the year), PGWIRE_FUZZ_CASES=N sets its size.
import { describe, it, expect, afterAll } from 'vitest';
import net from 'node:net';
import { pgSimpleQuery, MAX_MESSAGE_BYTES, MAX_REPLY_BYTES, MAX_SCRAM_ITERATIONS, Scram } from '../../src/clients/pgwire.js';
import { EXPECTED, MUTATIONS, PASSWORD, SCENARIOS, fuzzServer, int32, msg, prng, type FuzzCase } from './pgwire-fuzz-kit.js';

// the day of the year by default, as the crash sweeps rotate: another sample each day, the same one on a rerun
const dayOfYear = () => {
  const now = new Date();
  return Math.floor((now.getTime() - Date.UTC(now.getUTCFullYear(), 0, 0)) / 86_400_000);
};
const SEED = Number(process.env.PGWIRE_FUZZ_SEED ?? dayOfYear());
const CASES = Number(process.env.PGWIRE_FUZZ_CASES ?? 3000);
const DEADLINE_MS = 300; // a mutated case's own deadline: many wait it out
const VALID_DEADLINE_MS = 20_000; // an unmutated case never waits: only a loaded machine's slowness
const GRACE_MS = 15_000; // past its deadline a case is hung

function makeCases(): FuzzCase[] {
  const rng = prng(SEED);
  return Array.from({ length: CASES }, () => {
    const scenario = rng.pick(SCENARIOS);
    const steps = { trust: 2, cleartext: 3, md5: 3, scram: 4, 'auth-error': 2, 'query-error': 2 }[scenario];
    return { scenario, mutation: rng.next() < 0.08 ? 'none' : rng.pick(MUTATIONS), step: rng.int(steps), split: rng.next() < 0.4, keepOpen: rng.next() < 0.25, seed: rng.int(2 ** 31) };
  });
}

const uncaught: unknown[] = [];
const onUncaught = (e: unknown) => uncaught.push(e);
process.on('uncaughtException', onUncaught);
process.on('unhandledRejection', onUncaught);
afterAll(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

describe('pgwire against fuzzed server replies', () => {
  it(`settles every case (seed ${SEED})`, async () => {
    console.log(`pgwire fuzz: seed ${SEED}, ${CASES} cases (PGWIRE_FUZZ_SEED=${SEED} replays them)`);
    const cases = makeCases();
    const socketsBefore = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const srv = await fuzzServer(cases, MAX_MESSAGE_BYTES + 1);
    const problems: string[] = [];
    const outcomes = new Map<string, number>();
    try {
      const runOne = async (i: number) => {
        const c = cases[i];
        const valid = c.mutation === 'none';
        const timeoutMs = valid ? VALID_DEADLINE_MS : DEADLINE_MS;
        const what = `case ${i} (${c.scenario}, ${c.mutation} at reply ${c.step}${c.split ? ', split' : ''})`;
        let hang: NodeJS.Timeout | undefined;
        const hung = new Promise<'hung'>((ok) => (hang = setTimeout(() => ok('hung'), timeoutMs + GRACE_MS)));
        const settled = pgSimpleQuery({ host: '127.0.0.1', port: srv.port, user: `fuzz${i}`, password: PASSWORD, database: 'fuzz', timeoutMs }, 'SELECT 1').then(
          (rows) => ({ rows }),
          (error: unknown) => ({ error }),
        );
        const r = await Promise.race([settled, hung]);
        clearTimeout(hang);
        if (r === 'hung') return void problems.push(`${what}: did not settle within ${timeoutMs + GRACE_MS} ms`);
        const expected = EXPECTED[c.scenario];
        if ('error' in r) {
          const e = r.error;
          if (!(e instanceof Error)) return void problems.push(`${what}: rejected with a non-Error ${String(e)}`);
          if (!e.message.trim()) return void problems.push(`${what}: rejected with an empty message`);
          if (e.message.includes(PASSWORD)) problems.push(`${what}: the password is in the error`);
          if (valid && !('error' in expected && expected.error.test(e.message))) problems.push(`${what}: unmutated, rejected with ${e.message}`);
          const kind = /impossible length|more than|malformed|SCRAM|not supported|no answer|closed the connection/.exec(e.message)?.[0] ?? 'server error or other';
          outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        } else {
          const sane = Array.isArray(r.rows) && r.rows.every((row) => Array.isArray(row) && row.every((v) => v === null || typeof v === 'string'));
          if (!sane) problems.push(`${what}: resolved with ${JSON.stringify(r.rows)}`);
          if (valid && !('rows' in expected && JSON.stringify(r.rows) === JSON.stringify(expected.rows))) problems.push(`${what}: unmutated, resolved with ${JSON.stringify(r.rows)}`);
          outcomes.set('rows', (outcomes.get('rows') ?? 0) + 1);
        }
      };
      // 64 at a time: the cases that wait out their deadline overlap
      let next = 0;
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (next < cases.length) await runOne(next++);
      }));
      // every socket closed by the client, even where the server ignored Terminate and kept its side open
      const clientSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length - srv.open() - socketsBefore;
      for (let k = 0; k < 100 && clientSockets() > 0; k++) await new Promise((ok) => setTimeout(ok, 50));
      console.log(`pgwire fuzz outcomes: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
      expect(clientSockets(), 'sockets the client left open').toBe(0);
    } finally {
      await srv.close();
    }
    expect(problems.slice(0, 20), `seed ${SEED}: ${problems.length} problems`).toEqual([]);
    expect(uncaught.map(String), `seed ${SEED}`).toEqual([]);
  }, 180_000);
});

/** A server that sends `bytes` after the start-up message and keeps the connection open. */
async function oneReply(bytes: Buffer | (() => Buffer[])): Promise<{ port: number; close: () => void }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', async () => {
      for (const b of typeof bytes === 'function' ? bytes() : [bytes]) {
        if (s.destroyed) return;
        s.write(b);
        await new Promise((ok) => setImmediate(ok));
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}
/** A server that answers the client's n-th message (the start-up message is 0) with `reply(n, bytes)`. */
async function scripted(reply: (n: number, sent: Buffer) => Buffer | undefined): Promise<{ port: number; close: () => void }> {
  const server = net.createServer((s) => {
    let n = 0;
    s.on('error', () => {});
    s.on('data', (d) => {
      const out = reply(n++, d);
      if (out) s.write(out);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}
const at = (port: number) => ({ host: '127.0.0.1', port, user: 'u', password: PASSWORD, database: 'd', timeoutMs: 10_000 });

describe('pgwire bounds what a hostile server can make it hold or do', () => {
  it('refuses a length field past its bound at once, before the bytes arrive', async () => {
    const srv = await oneReply(Buffer.concat([Buffer.from('D'), int32(0x7fffffff), Buffer.alloc(64)]));
    try {
      await expect(pgSimpleQuery(at(srv.port), 'SELECT 1')).rejects.toThrow(/^Postgres at 127\.0\.0\.1:\d+ sent a message of impossible length 2147483647 \(type "D"\)$/);
    } finally {
      srv.close();
    }
  });

  it('refuses a negative or self-short length instead of spinning on it', async () => {
    for (const len of [-1, 0, 3]) {
      const srv = await oneReply(Buffer.concat([Buffer.from('S'), int32(len), Buffer.alloc(8)]));
      try {
        await expect(pgSimpleQuery(at(srv.port), 'SELECT 1')).rejects.toThrow(`impossible length ${len}`);
      } finally {
        srv.close();
      }
    }
  });

  it(`stops reading a reply past ${MAX_REPLY_BYTES} bytes (many small valid messages)`, async () => {
    const notice = msg('N', Buffer.concat([Buffer.from('Mx'), Buffer.alloc(60_000, 0x61), Buffer.from([0, 0])]));
    const srv = await oneReply(() => Array.from({ length: Math.ceil(MAX_REPLY_BYTES / notice.length) + 8 }, () => notice));
    try {
      await expect(pgSimpleQuery(at(srv.port), 'SELECT 1')).rejects.toThrow(`sent more than ${MAX_REPLY_BYTES} bytes for one query`);
    } finally {
      srv.close();
    }
  });

  it('refuses a SCRAM iteration count past its bound, and a login the server did not prove', async () => {
    const scram = new Scram('pw', 'abc');
    await expect(scram.clientFinal(`r=abcdef,s=c2FsdA==,i=${MAX_SCRAM_ITERATIONS + 1}`)).rejects.toThrow(`more than ${MAX_SCRAM_ITERATIONS}`);
    // SASL started and answered, then AuthenticationOk without the server's signature (SASLFinal)
    const srv = await scripted((n, sent) => {
      if (n === 0) return msg('R', Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256\0\0')]));
      if (n === 1) return msg('R', Buffer.concat([int32(11), Buffer.from(`r=${/r=([^,]*)/.exec(sent.toString('latin1'))![1]}srv,s=c2FsdA==,i=16`)]));
      if (n === 2) return Buffer.concat([msg('R', int32(0)), msg('Z', Buffer.from('I'))]);
    });
    try {
      await expect(pgSimpleQuery(at(srv.port), 'SELECT 1')).rejects.toThrow('SCRAM: the server accepted the login without proving it knows the password');
    } finally {
      srv.close();
    }
  });

  it('names SASL mechanisms it cannot use and unknown authentication requests', async () => {
    for (const [reply, text] of [
      [msg('R', Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256-PLUS\0\0')])), /offers SASL SCRAM-SHA-256-PLUS, none of which is supported/],
      [msg('R', int32(9)), /asks for SSPI authentication, which is not supported/],
      [msg('R', int32(77)), /unknown authentication request \(77\)/],
      [msg('R', Buffer.from([0, 0])), /malformed authentication request/],
      [msg('D', Buffer.from([0, 1, 0, 0, 0, 9, 0x31])), /malformed data row/],
      [msg('E', Buffer.from('SFATAL\0C28000\0\0')), /^Postgres at 127\.0\.0\.1:\d+ sent an error without a message \(SQLSTATE 28000\)$/],
    ] as const) {
      const srv = await oneReply(reply);
      try {
        await expect(pgSimpleQuery(at(srv.port), 'SELECT 1')).rejects.toThrow(text);
      } finally {
        srv.close();
      }
    }
  });
});
