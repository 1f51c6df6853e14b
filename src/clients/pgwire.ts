// Postgres' frontend/backend protocol (v3), just enough for status's
// `SELECT 1` on a published 127.0.0.1 port: start-up, authentication
// (trust, cleartext, MD5, SCRAM-SHA-256), one simple query, terminate.
// Kept instead of the pg package because bench/pgclient.sh shows pg, even
// loaded lazily as one chunk, adding 32-45 ms to every status run on a quiet
// machine (load, connect, query, close in a fresh process: pgwire ~17 ms, pg
// 49-62 ms; bench/results/pgclient.txt), against a budget of ~130 ms for the whole
// run. The rest of lifeops (migrations, backups) uses pg. Tested against real
// Postgres 15 and 16 per pg_hba method (test/engine/pgwire-auth.test.ts) and
// fuzzed replies (test/unit/pgwire-fuzz.test.ts).
import net from 'node:net';
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  timeoutMs?: number;
}

// Bounds on what a server may send (status's queries answer in well under a
// KiB): a hostile or broken length field or iteration count is an error, not
// a huge buffer, an endless wait or minutes of key derivation.
export const MAX_MESSAGE_BYTES = 1 << 20;
export const MAX_REPLY_BYTES = 4 << 20;
export const MAX_SCRAM_ITERATIONS = 1_000_000;

/** Authentication requests pgwire does not answer, by their code. */
const UNSUPPORTED_AUTH: Record<number, string> = { 2: 'Kerberos V5', 6: 'SCM credential', 7: 'GSSAPI', 8: 'GSSAPI', 9: 'SSPI' };
const SPOKEN = "lifeops' Postgres check speaks trust, password, md5 and scram-sha-256: give this user one of those in pg_hba.conf";

/** A server's ErrorResponse: its message field, severity and SQLSTATE code kept. */
export class PgServerError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly severity?: string,
  ) {
    super(message);
  }
}

/** Server-chosen text in an error, cut to a readable length (a hostile server could send a MiB). */
const clip = (s: string) => (s.length > 500 ? `${s.slice(0, 500)}…` : s);

const cstr = (s: string) => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);

/** A typed message: type byte, Int32 length (itself included), body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.concat([cstr('user'), cstr(user), cstr('database'), cstr(database), cstr('application_name'), cstr('lifeops-status'), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}

/** The fields of an ErrorResponse or NoticeResponse body (type byte -> text). */
function fields(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    out.set(String.fromCharCode(body[i]), body.toString('utf8', i + 1, end < 0 ? body.length : end));
    i = end < 0 ? body.length : end + 1;
  }
  return out;
}

const md5hex = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const hmac = (key: Buffer, text: string | Buffer) => createHmac('sha256', key).update(text).digest();

/** The MD5 password message: 'md5' + md5(md5(password + user) + salt). */
export function md5Password(user: string, password: string, salt: Buffer): string {
  return 'md5' + md5hex(Buffer.concat([Buffer.from(md5hex(password + user), 'utf8'), salt]));
}

/** SCRAM-SHA-256 (RFC 5802/7677) as Postgres runs it: the client's side of one exchange. */
export class Scram {
  readonly clientFirstBare: string;
  private serverSignature?: Buffer;

  constructor(
    private readonly password: string,
    private readonly nonce = randomBytes(18).toString('base64'),
    // Postgres takes the user from the start-up message and ignores n= here
    user = '*',
  ) {
    this.clientFirstBare = `n=${user},r=${this.nonce}`;
  }

  clientFirst(): string {
    return `n,,${this.clientFirstBare}`;
  }

  async clientFinal(serverFirst: string): Promise<string> {
    const attrs = new Map(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)] as const));
    const r = attrs.get('r');
    const s = attrs.get('s');
    const i = Number(attrs.get('i'));
    if (!r || !r.startsWith(this.nonce) || r.length === this.nonce.length) throw new Error('SCRAM: the server nonce does not extend ours');
    if (!s || !Number.isInteger(i) || i < 1) throw new Error('SCRAM: the server sent no salt or iteration count');
    if (i > MAX_SCRAM_ITERATIONS) throw new Error(`SCRAM: the server asks for ${i} iterations, more than ${MAX_SCRAM_ITERATIONS}`);
    const salted = await new Promise<Buffer>((resolve, reject) => pbkdf2(this.password, Buffer.from(s, 'base64'), i, 32, 'sha256', (e, k) => (e ? reject(e) : resolve(k))));
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${r}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((b, k) => b ^ signature[k]));
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** The server proves it knew the password too. */
  verify(serverFinal: string): void {
    const v = /(?:^|,)v=([^,]+)/.exec(serverFinal)?.[1];
    const got = v ? Buffer.from(v, 'base64') : Buffer.alloc(0);
    if (!this.serverSignature || got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature)) throw new Error('SCRAM: the server signature does not match');
    this.verified = true;
  }

  /** True once the server's final message proved it holds the password's keys. */
  verified = false;
}

/** A DataRow body: its columns as text, NULL as null; a column running past the message is an error. */
function dataRow(body: Buffer, from: string): (string | null)[] {
  const malformed = () => new Error(`${from} sent a malformed data row`);
  if (body.length < 2) throw malformed();
  const n = body.readInt16BE(0);
  if (n < 0) throw malformed();
  const row: (string | null)[] = [];
  let at = 2;
  for (let k = 0; k < n; k++) {
    if (at + 4 > body.length) throw malformed();
    const len = body.readInt32BE(at);
    at += 4;
    if (len < -1 || at + Math.max(0, len) > body.length) throw malformed();
    row.push(len === -1 ? null : body.toString('utf8', at, at + len));
    at += Math.max(0, len);
  }
  return row;
}

/** Runs `sql` (one simple query) and resolves to the text of each row's columns. */
export function pgSimpleQuery(t: PgTarget, sql: string): Promise<(string | null)[][]> {
  const timeoutMs = t.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: t.host, port: t.port });
    const rows: (string | null)[][] = [];
    let buf = Buffer.alloc(0);
    let scram: Scram | undefined;
    let queried = false;
    let failure: Error | undefined;
    let settled = false;
    const finish = (e?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Terminate, then drop the socket whether or not the server closes its side
      if (!e && !sock.destroyed) sock.end(message('X', Buffer.alloc(0)), () => sock.destroy());
      else sock.destroy();
      if (e) reject(e);
      else resolve(rows);
    };
    const timer = setTimeout(() => finish(new Error(`no answer from Postgres at ${t.host}:${t.port} in ${timeoutMs} ms`)), timeoutMs);
    const password = () => {
      if (t.password === undefined) throw new Error('the server asks for a password and the stack sets none');
      return t.password;
    };
    const handle = async (type: string, body: Buffer): Promise<void> => {
      if (type === 'R') {
        if (body.length < 4) throw new Error(`Postgres at ${t.host}:${t.port} sent a malformed authentication request`);
        const code = body.readInt32BE(0);
        if (code === 0) {
          // AuthenticationOk: after SCRAM only once the server proved itself
          if (scram && !scram.verified) throw new Error('SCRAM: the server accepted the login without proving it knows the password');
          return;
        }
        if (code === 3) return void sock.write(message('p', cstr(password())));
        if (code === 5) return void sock.write(message('p', cstr(md5Password(t.user, password(), body.subarray(4, 8)))));
        if (code === 10) {
          const mechanisms = body.toString('utf8', 4).split('\0').filter(Boolean);
          if (!mechanisms.includes('SCRAM-SHA-256')) throw new Error(`the server offers SASL ${clip(mechanisms.join(', ')) || '(no mechanism)'}, none of which is supported (${SPOKEN}; SCRAM-SHA-256-PLUS needs TLS, which this check does not use)`);
          scram = new Scram(password());
          const first = Buffer.from(scram.clientFirst(), 'utf8');
          const len = Buffer.alloc(4);
          len.writeInt32BE(first.length, 0);
          return void sock.write(message('p', Buffer.concat([cstr('SCRAM-SHA-256'), len, first])));
        }
        if (code === 11 && scram) return void sock.write(message('p', Buffer.from(await scram.clientFinal(body.toString('utf8', 4)), 'utf8')));
        if (code === 12 && scram) return scram.verify(body.toString('utf8', 4));
        const name = UNSUPPORTED_AUTH[code];
        throw new Error(name ? `the server asks for ${name} authentication, which is not supported (${SPOKEN})` : `the server sent an unknown authentication request (${code}); not supported (${SPOKEN})`);
      }
      if (type === 'E') {
        const f = fields(body);
        failure ??= new PgServerError(clip(f.get('M') ?? '') || `Postgres at ${t.host}:${t.port} sent an error without a message (SQLSTATE ${clip(f.get('C') ?? '') || 'none'})`, f.get('C'), f.get('S'));
        if (!queried) throw failure; // start-up or authentication failed: the server closes
        return;
      }
      if (type === 'D') {
        rows.push(dataRow(body, `Postgres at ${t.host}:${t.port}`));
        return;
      }
      if (type === 'Z') {
        if (!queried) {
          queried = true;
          return void sock.write(message('Q', cstr(sql)));
        }
        return failure ? finish(failure) : finish();
      }
      // S ParameterStatus, K BackendKeyData, N NoticeResponse, T RowDescription, C CommandComplete, I EmptyQueryResponse
    };
    // one message at a time, in order (SCRAM's key derivation is asynchronous)
    let chain = Promise.resolve();
    let received = 0;
    sock.on('data', (chunk: Buffer) => {
      if (settled) return;
      received += chunk.length;
      if (received > MAX_REPLY_BYTES) return finish(new Error(`Postgres at ${t.host}:${t.port} sent more than ${MAX_REPLY_BYTES} bytes for one query`));
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5) {
        const len = buf.readInt32BE(1);
        // the length counts itself: below 4 the stream is garbage (and 0xFFFFFFFF would never advance)
        if (len < 4 || len > MAX_MESSAGE_BYTES) return finish(new Error(`Postgres at ${t.host}:${t.port} sent a message of impossible length ${len} (type ${JSON.stringify(String.fromCharCode(buf[0]))})`));
        if (buf.length < len + 1) break;
        const type = String.fromCharCode(buf[0]);
        const body = buf.subarray(5, len + 1);
        buf = buf.subarray(len + 1);
        chain = chain.then(() => handle(type, body)).catch((e: Error) => finish(e));
      }
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(failure ?? new Error(`Postgres at ${t.host}:${t.port} closed the connection`)));
    sock.write(startupMessage(t.user, t.database));
  });
}
