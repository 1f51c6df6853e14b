// status's own Postgres protocol client (src/clients/pgwire.ts): SCRAM-SHA-256
// against the exchange published in RFC 7677 section 3, and the client's
// handling of a server's messages, played by a loopback socket speaking the
// v3 protocol byte for byte (the engine lane runs it against real Postgres:
// test/engine/status-monitoring.test.ts, and per authentication method on
// Postgres 15 and 16: test/engine/pgwire-auth.test.ts; fuzzed replies:
// test/unit/pgwire-fuzz.test.ts).
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { Scram, pgSimpleQuery, startupMessage } from '../../src/clients/pgwire.js';

const msg = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
};
const z = (s: string) => Buffer.from(`${s}\0`, 'utf8');

/** A one-connection server: answers the start-up message with `reply(startup)`, records what the client sent. */
async function fakeServer(reply: (sent: Buffer[]) => Buffer | undefined): Promise<{ port: number; sent: Buffer[]; close: () => void }> {
  const sent: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on('data', (d) => {
      sent.push(d);
      const out = reply(sent);
      if (out) s.write(out);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, sent, close: () => server.close() };
}

describe('pgwire', () => {
  it('computes the SCRAM-SHA-256 proof and checks the server signature of RFC 7677', async () => {
    const scram = new Scram('pencil', 'rOprNGfwEbeRWgbNEkqO', 'user');
    expect(scram.clientFirst()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = await scram.clientFinal('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    expect(final).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(() => scram.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).not.toThrow();
    expect(() => scram.verify('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(/server signature/);
  });

  it('refuses a server nonce that does not extend its own', async () => {
    const scram = new Scram('pencil', 'abc');
    await expect(scram.clientFinal('r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).rejects.toThrow(/nonce/);
  });

  it('runs one query: start-up, trust authentication, rows as text, NULL as null', async () => {
    const srv = await fakeServer((sent) => {
      if (sent.length === 1) return Buffer.concat([msg('R', int32(0)), msg('S', Buffer.concat([z('server_version'), z('15.0')])), msg('Z', Buffer.from('I'))]);
      if (sent[sent.length - 1][0] === 'Q'.charCodeAt(0)) {
        const row = Buffer.concat([Buffer.from([0, 2]), int32(1), Buffer.from('1'), int32(-1)]);
        return Buffer.concat([msg('D', row), msg('C', z('SELECT 1')), msg('Z', Buffer.from('I'))]);
      }
      return undefined;
    });
    try {
      const rows = await pgSimpleQuery({ host: '127.0.0.1', port: srv.port, user: 'demo', database: 'demo' }, 'SELECT 1, NULL');
      expect(rows).toEqual([['1', null]]);
      expect(srv.sent[0]).toEqual(startupMessage('demo', 'demo'));
      expect(srv.sent[1].toString('latin1')).toContain('SELECT 1, NULL\0');
    } finally {
      srv.close();
    }
  });

  it("rejects with the server's message when authentication fails, and without a password when one is asked", async () => {
    const failing = await fakeServer(() => msg('E', Buffer.concat([z('SFATAL'), z('C28P01'), z('Mpassword authentication failed for user "demo"'), Buffer.from([0])])));
    const asking = await fakeServer(() => msg('R', int32(3)));
    try {
      await expect(pgSimpleQuery({ host: '127.0.0.1', port: failing.port, user: 'demo', database: 'demo', password: 'x' }, 'SELECT 1')).rejects.toThrow('password authentication failed for user "demo"');
      await expect(pgSimpleQuery({ host: '127.0.0.1', port: asking.port, user: 'demo', database: 'demo' }, 'SELECT 1')).rejects.toThrow(/asks for a password/);
    } finally {
      failing.close();
      asking.close();
    }
  });

  it('gives up at its deadline when the server never answers', async () => {
    const silent = await fakeServer(() => undefined);
    try {
      await expect(pgSimpleQuery({ host: '127.0.0.1', port: silent.port, user: 'demo', database: 'demo', timeoutMs: 300 }, 'SELECT 1')).rejects.toThrow(/no answer from Postgres .* in 300 ms/);
    } finally {
      silent.close();
    }
  });
});
