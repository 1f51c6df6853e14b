// The server side of test/unit/pgwire-fuzz.test.ts: valid v3 reply streams
// for each authentication path (written here from the protocol's
// description, SCRAM's server side included), the mutations applied to
// them, and one loopback server that plays a case per connection (the case
// number travels in the start-up message's user name).
import net from 'node:net';
import { createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** mulberry32: a small seeded PRNG, so a failing seed replays the same cases. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}
export type Rng = ReturnType<typeof prng>;

export const msg = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};
export const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
};
const z = (s: string) => Buffer.from(`${s}\0`, 'utf8');

const AUTH_OK = msg('R', int32(0));
const READY = msg('Z', Buffer.from('I'));
const START_TAIL = Buffer.concat([
  AUTH_OK,
  msg('S', Buffer.concat([z('server_version'), z('16.4')])),
  msg('S', Buffer.concat([z('client_encoding'), z('UTF8')])),
  msg('K', Buffer.concat([int32(4242), int32(0x5eed)])),
  READY,
]);
const ROW_DESCRIPTION = msg('T', Buffer.concat([Buffer.from([0, 1]), z('?column?'), int32(0), Buffer.from([0, 0]), int32(23), Buffer.from([0, 4]), int32(-1), Buffer.from([0, 0])]));
const ANSWER = Buffer.concat([ROW_DESCRIPTION, msg('D', Buffer.concat([Buffer.from([0, 1]), int32(1), Buffer.from('1')])), msg('C', z('SELECT 1')), READY]);
const serverError = (code: string, text: string) => msg('E', Buffer.concat([z('SFATAL'), z('VFATAL'), z(`C${code}`), z(`M${text}`), Buffer.from([0])]));

/** A client message as the server reads it (the start-up message has no type byte: type ''). */
export interface ClientMessage {
  type: string;
  body: Buffer;
}

export const PASSWORD = 'fuzz-Secret-0123456789';
const SCRAM_SALT = randomBytes(16);
const SCRAM_ITERATIONS = 64; // small: thousands of exchanges must run in seconds

/** SCRAM-SHA-256's server side for one exchange, answering the client's own nonce. */
function scramServer() {
  let clientFirstBare = '';
  let serverFirst = '';
  return {
    first(initial: Buffer): Buffer {
      // SASLInitialResponse: mechanism\0, Int32 length, client-first-message
      const at = initial.indexOf(0) + 5;
      clientFirstBare = initial.toString('utf8', at).replace(/^n,,/, '');
      const clientNonce = /r=([^,]*)/.exec(clientFirstBare)?.[1] ?? '';
      serverFirst = `r=${clientNonce}${randomBytes(12).toString('base64')},s=${SCRAM_SALT.toString('base64')},i=${SCRAM_ITERATIONS}`;
      return msg('R', Buffer.concat([int32(11), Buffer.from(serverFirst)]));
    },
    final(response: Buffer): Buffer {
      const withoutProof = response.toString('utf8').replace(/,p=.*$/, '');
      const salted = pbkdf2Sync(PASSWORD, SCRAM_SALT, SCRAM_ITERATIONS, 32, 'sha256');
      const serverKey = createHmac('sha256', salted).update('Server Key').digest();
      const signature = createHmac('sha256', serverKey).update(`${clientFirstBare},${serverFirst},${withoutProof}`).digest();
      return Buffer.concat([msg('R', Buffer.concat([int32(12), Buffer.from(`v=${signature.toString('base64')}`)])), START_TAIL]);
    },
  };
}

/** The paths a server can take; each answers the client's n-th message with the n-th reply. */
export const SCENARIOS = ['trust', 'cleartext', 'md5', 'scram', 'auth-error', 'query-error'] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** What pgSimpleQuery must settle to when nothing was mutated. */
export const EXPECTED: Record<Scenario, { rows: string[][] } | { error: RegExp }> = {
  trust: { rows: [['1']] },
  cleartext: { rows: [['1']] },
  md5: { rows: [['1']] },
  scram: { rows: [['1']] },
  'auth-error': { error: /^password authentication failed for user "fuzz/ },
  'query-error': { error: /^relation "nope" does not exist$/ },
};

export function replies(scenario: Scenario): (m: ClientMessage, step: number) => Buffer | undefined {
  const scram = scramServer();
  return (m, step) => {
    switch (scenario) {
      case 'trust':
        return [START_TAIL, ANSWER][step];
      case 'cleartext':
        return [msg('R', int32(3)), START_TAIL, ANSWER][step];
      case 'md5':
        return [msg('R', Buffer.concat([int32(5), Buffer.from([1, 2, 3, 4])])), START_TAIL, ANSWER][step];
      case 'scram':
        if (step === 0) return msg('R', Buffer.concat([int32(10), z('SCRAM-SHA-256'), Buffer.from([0])]));
        if (step === 1) return scram.first(m.body);
        if (step === 2) return scram.final(m.body);
        return step === 3 ? ANSWER : undefined;
      case 'auth-error':
        return [msg('R', int32(3)), serverError('28P01', `password authentication failed for user "fuzz"`)][step];
      case 'query-error':
        return [START_TAIL, Buffer.concat([serverError('42P01', 'relation "nope" does not exist'), READY])][step];
    }
  };
}

/** Offsets of the typed messages in a reply (where their length fields are). */
function boundaries(reply: Buffer): number[] {
  const at: number[] = [];
  for (let i = 0; i + 5 <= reply.length; ) {
    at.push(i);
    const len = reply.readInt32BE(i + 1);
    if (len < 4) break;
    i += len + 1;
  }
  return at;
}

export const MUTATIONS = ['none', 'bitflip', 'truncate', 'length', 'overwrite', 'insert', 'random', 'duplicate', 'silent', 'close'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** The reply with one mutation applied; 'close' ends the connection after the (possibly cut) bytes. */
export function mutate(reply: Buffer, kind: Mutation, rng: Rng, huge: number): { bytes: Buffer; close: boolean; silent: boolean } {
  const b = Buffer.from(reply);
  switch (kind) {
    case 'none':
      return { bytes: b, close: false, silent: false };
    case 'bitflip':
      for (let k = 1 + rng.int(4); k > 0; k--) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return { bytes: b, close: false, silent: false };
    case 'truncate':
      return { bytes: b.subarray(0, rng.int(b.length)), close: rng.next() < 0.7, silent: false };
    case 'length': {
      const at = rng.pick(boundaries(b));
      const len = b.readInt32BE(at + 1);
      b.writeInt32BE(rng.pick([0, 1, 3, 4, -1, -4, -2147483648, 2147483647, len - 1, len + 1, len + 1000, huge, huge + 1]) | 0, at + 1);
      return { bytes: b, close: false, silent: false };
    }
    case 'overwrite': {
      const at = rng.int(b.length);
      const n = Math.min(b.length - at, 1 + rng.int(8));
      for (let k = 0; k < n; k++) b[at + k] = rng.int(256);
      return { bytes: b, close: false, silent: false };
    }
    case 'insert': {
      const at = rng.int(b.length + 1);
      const junk = Buffer.from(Array.from({ length: 1 + rng.int(12) }, () => rng.int(256)));
      return { bytes: Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]), close: false, silent: false };
    }
    case 'random':
      return { bytes: Buffer.from(Array.from({ length: rng.int(64) }, () => rng.int(256))), close: rng.next() < 0.5, silent: false };
    case 'duplicate':
      return { bytes: Buffer.concat([b, b]), close: false, silent: false };
    case 'silent':
      return { bytes: Buffer.alloc(0), close: false, silent: true };
    case 'close':
      return { bytes: Buffer.alloc(0), close: true, silent: false };
  }
}

export interface FuzzCase {
  scenario: Scenario;
  mutation: Mutation;
  /** which reply (by the client message it answers) is mutated */
  step: number;
  /** deliver in pieces of 1-7 bytes, one per event-loop turn */
  split: boolean;
  /** the server ignores Terminate and never closes: the client must drop the socket itself */
  keepOpen: boolean;
  seed: number;
}

/** One server for every case: the start-up message's user is `fuzz<case number>`. */
export async function fuzzServer(cases: FuzzCase[], huge: number): Promise<{ port: number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  // half-open allowed, so a keepOpen case really keeps its side open after the client's FIN
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let step = 0;
    let play: ((m: ClientMessage, step: number) => Buffer | undefined) | undefined;
    let fc: FuzzCase | undefined;
    let rng: Rng | undefined;
    let sending = Promise.resolve();
    s.on('end', () => void (fc?.keepOpen || s.end()));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const typed = play !== undefined;
        const head = typed ? 5 : 4;
        if (buf.length < head) return;
        const len = buf.readInt32BE(typed ? 1 : 0);
        const total = len + (typed ? 1 : 0);
        if (buf.length < total) return;
        const m = { type: typed ? String.fromCharCode(buf[0]) : '', body: buf.subarray(head, total) };
        buf = buf.subarray(total);
        if (!typed) {
          const user = /user\0fuzz(\d+)\0/.exec(m.body.toString('latin1'))?.[1];
          fc = cases[Number(user)];
          rng = prng(fc.seed);
          play = replies(fc.scenario);
        }
        if (m.type === 'X') return void (fc!.keepOpen || s.end());
        const reply = play!(m, step);
        const here = step++;
        if (!reply) continue;
        const out = here === fc!.step ? mutate(reply, fc!.mutation, rng!, huge) : { bytes: reply, close: false, silent: false };
        sending = sending.then(() => deliver(s, out.bytes, fc!.split ? rng! : undefined)).then(() => void (out.close && s.end()));
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

async function deliver(s: net.Socket, bytes: Buffer, split: Rng | undefined): Promise<void> {
  if (s.destroyed) return;
  if (!split) return void s.write(bytes);
  for (let at = 0; at < bytes.length && !s.destroyed; ) {
    const n = 1 + split.int(7);
    s.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((ok) => setImmediate(ok));
  }
}
