// One certificate order with an RFC 8555 CA through acme-client (npm): the
// account (made or found by its key), the order, HTTP-01 for every name, the
// CSR, finalization and the certificate with its chain. The tokens go where
// the caller puts them (the front's webroot); acme-client's own check of the
// token over the public internet is skipped: lifeops checks it through the
// front's loopback port before asking the CA to validate.
import https from 'node:https';
import { readFileSync } from 'node:fs';

export interface AcmeOrder {
  directory: string;
  /** PEM of the CA signing the directory's HTTPS listener (a private CA); none for public CAs */
  caBundlePath?: string;
  email: string;
  accountKeyPem: string;
  /** the first name is the certificate's common name */
  names: string[];
  putToken: (token: string, keyAuthorization: string) => Promise<void> | void;
  removeToken: (token: string) => Promise<void> | void;
  timeoutMs?: number;
}

export interface AcmeResult {
  keyPem: string;
  fullchainPem: string;
  accountUrl: string;
}

type AcmeModule = typeof import('acme-client');
let loaded: Promise<AcmeModule> | undefined;
// loaded on first use: axios and node-forge are heavy, and only certificate work needs them
const load = () => (loaded ??= import('acme-client').then((m) => ((m as unknown as { default?: AcmeModule }).default ?? m) as AcmeModule));

/** A new ECDSA P-256 key (PEM): the account's, or a certificate's. */
export async function newKeyPem(): Promise<string> {
  const acme = await load();
  return (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
}

/** The CA's problem detail or the transport's error, in one line. */
function reason(e: unknown): string {
  const err = e as { message?: string; code?: string; response?: { status?: number; data?: { detail?: string; type?: string } } };
  const detail = err.response?.data?.detail;
  if (detail) return `${err.response?.status ?? ''} ${err.response?.data?.type ?? ''}: ${detail}`.trim();
  const msg = (err.message ?? String(e)).split('\n')[0];
  return err.code && !msg.includes(err.code) ? `${err.code}: ${msg}` : msg;
}

export class AcmeRefused extends Error {}

/**
 * GET the directory once, quickly: a CA that is down or a wrong URL is told
 * in one line at once (acme-client would retry a refused connection for more
 * than a minute and then report an error of its own retry code).
 */
function directoryAnswers(url: string, agent: https.Agent | undefined, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length < 65536 ? c : ''));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new AcmeRefused(`directory ${url} answered ${res.statusCode}`));
        try {
          if (typeof (JSON.parse(body) as { newOrder?: unknown }).newOrder !== 'string') throw new Error('no newOrder');
          resolve();
        } catch {
          reject(new AcmeRefused(`${url} is not an ACME directory (no newOrder URL in its answer)`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new AcmeRefused(`directory ${url}: ${e.code && !e.message.includes(e.code) ? `${e.code}: ` : ''}${e.message}`)));
  });
}

export async function orderCertificate(o: AcmeOrder): Promise<AcmeResult> {
  const acme = await load();
  const timeoutMs = o.timeoutMs ?? 30_000;
  const agent = o.caBundlePath ? new https.Agent({ ca: readFileSync(o.caBundlePath, 'utf8'), keepAlive: false }) : undefined;
  await directoryAnswers(o.directory, agent, Math.min(timeoutMs, 10_000));
  acme.axios.defaults.timeout = timeoutMs;
  acme.axios.defaults.httpsAgent = agent;
  try {
    const client = new acme.Client({ directoryUrl: o.directory, accountKey: o.accountKeyPem, backoffAttempts: 5, backoffMin: 500, backoffMax: 5000 });
    const keyPem = await newKeyPem();
    const [, csr] = await acme.crypto.createCsr({ commonName: o.names[0], altNames: o.names }, keyPem);
    const fullchainPem = await client.auto({
      csr,
      email: o.email,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        if (challenge.type !== 'http-01') throw new Error(`only http-01 is answered, the CA offered ${challenge.type}`);
        await o.putToken(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        await o.removeToken(challenge.token);
      },
    });
    return { keyPem, fullchainPem, accountUrl: client.getAccountUrl() };
  } catch (e) {
    throw new AcmeRefused(reason(e));
  }
}
