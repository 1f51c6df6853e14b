// The certificate store of front.tls.acme, under acme/<env>/ in the state dir:
//   account.key, account.json       the ACME account (key 0600; its URL at the CA it was made with)
//   live/<domain>/fullchain.pem     the certificate the front serves, with its chain (0600)
//   live/<domain>/privkey.pem       its key (0600); live/ is mounted read-only into the nginx front
//   webroot/.well-known/acme-challenge/   HTTP-01 tokens (0755/0644: nginx's workers read them; a token is public)
//   attempts.json                   per domain: the last attempt, its outcome, consecutive failures
// It lives in the state dir so a redeploy finds what the CA already issued
// (rate limits) and a backup of the state dir carries it.
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { acmeDir } from './paths.js';
import { mkdirPrivate, replacePrivate } from '../util/private-files.js';

export const CHALLENGE_SUBDIR = '.well-known/acme-challenge';
export const liveDir = (stateDir: string, env: string) => path.join(acmeDir(stateDir, env), 'live');
export const webrootDir = (stateDir: string, env: string) => path.join(acmeDir(stateDir, env), 'webroot');
const attemptsFile = (stateDir: string, env: string) => path.join(acmeDir(stateDir, env), 'attempts.json');

export interface InstalledCert {
  domain: string;
  names: string[];
  issuer: string;
  serial: string;
  not_before: string;
  not_after: string;
  fullchain: string;
}

export interface CertAttempt {
  time: string;
  ok: boolean;
  /** why: the CA's reason, or what failed before asking it */
  error?: string;
  forced?: boolean;
  /** consecutive failures up to this attempt (0 after a success) */
  failures: number;
}

/** The names a certificate covers (its subjectAltName DNS entries). */
export function certNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
}

/** The issuer's common name (else the whole issuer). */
export function issuerName(cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]+)/.exec(cert.issuer)?.[1] ?? cert.issuer.replace(/\n/g, ', ');
}

export function describeCert(domain: string, pem: string): InstalledCert {
  const cert = new X509Certificate(pem);
  return {
    domain,
    names: certNames(cert),
    issuer: issuerName(cert),
    serial: cert.serialNumber,
    not_before: new Date(cert.validFrom).toISOString(),
    not_after: new Date(cert.validTo).toISOString(),
    fullchain: pem,
  };
}

/** The certificate installed for `domain`, or undefined (none, or unreadable: then it is issued again). */
export function readInstalled(stateDir: string, env: string, domain: string): InstalledCert | undefined {
  const dir = path.join(liveDir(stateDir, env), domain);
  try {
    if (!existsSync(path.join(dir, 'privkey.pem'))) return undefined;
    return describeCert(domain, readFileSync(path.join(dir, 'fullchain.pem'), 'utf8'));
  } catch {
    return undefined;
  }
}

export function listInstalled(stateDir: string, env: string): InstalledCert[] {
  const dir = liveDir(stateDir, env);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((d) => readInstalled(stateDir, env, d))
    .filter((c): c is InstalledCert => Boolean(c));
}

/**
 * Both files 0600, each renamed into place; the front reads them only on the
 * reload that follows, so it never pairs an old key with a new certificate.
 */
export function installCert(stateDir: string, env: string, domain: string, keyPem: string, fullchainPem: string): InstalledCert {
  const dir = path.join(liveDir(stateDir, env), domain);
  mkdirPrivate(dir);
  replacePrivate(path.join(dir, 'privkey.pem'), keyPem);
  replacePrivate(path.join(dir, 'fullchain.pem'), fullchainPem);
  return describeCert(domain, fullchainPem);
}

const accountKeyFile = (stateDir: string, env: string) => path.join(acmeDir(stateDir, env), 'account.key');

/** The ACME account's key (PEM), or undefined before the first order. */
export function readAccountKey(stateDir: string, env: string): string | undefined {
  const file = accountKeyFile(stateDir, env);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

export function writeAccountKey(stateDir: string, env: string, pem: string): void {
  mkdirPrivate(acmeDir(stateDir, env));
  replacePrivate(accountKeyFile(stateDir, env), pem);
}

export interface AccountRecord {
  directory: string;
  url: string;
}

export function readAccount(stateDir: string, env: string): AccountRecord | undefined {
  try {
    return JSON.parse(readFileSync(path.join(acmeDir(stateDir, env), 'account.json'), 'utf8')) as AccountRecord;
  } catch {
    return undefined;
  }
}

export function writeAccount(stateDir: string, env: string, rec: AccountRecord): void {
  replacePrivate(path.join(acmeDir(stateDir, env), 'account.json'), JSON.stringify(rec, null, 2) + '\n');
}

export function readAttempts(stateDir: string, env: string): Record<string, CertAttempt> {
  try {
    return JSON.parse(readFileSync(attemptsFile(stateDir, env), 'utf8')) as Record<string, CertAttempt>;
  } catch {
    return {};
  }
}

export function recordAttempt(stateDir: string, env: string, domain: string, a: Omit<CertAttempt, 'failures'>): CertAttempt {
  const all = readAttempts(stateDir, env);
  const rec: CertAttempt = { ...a, failures: a.ok ? 0 : (all[domain]?.failures ?? 0) + 1 };
  all[domain] = rec;
  mkdirPrivate(acmeDir(stateDir, env));
  replacePrivate(attemptsFile(stateDir, env), JSON.stringify(all, null, 2) + '\n');
  return rec;
}

/**
 * The webroot the front serves /.well-known/acme-challenge/ from: the one
 * place under acme/<env>/ that is not private (nginx's workers are not root).
 */
export function ensureWebroot(stateDir: string, env: string): string {
  mkdirPrivate(acmeDir(stateDir, env));
  const root = webrootDir(stateDir, env);
  const challenge = path.join(root, ...CHALLENGE_SUBDIR.split('/'));
  mkdirSync(challenge, { recursive: true });
  for (let p = challenge; p.startsWith(root); p = path.dirname(p)) chmodSync(p, 0o755);
  mkdirPrivate(liveDir(stateDir, env));
  return root;
}

/** A token file nginx serves as-is (its content is the public key authorization). */
export function putToken(stateDir: string, env: string, token: string, content: string): void {
  // RFC 8555 tokens are base64url: anything else (a path) is not written
  if (!/^[A-Za-z0-9_-]{16,}$/.test(token)) throw new Error(`the CA sent a challenge token that is not base64url: ${JSON.stringify(token.slice(0, 40))}`);
  const file = path.join(ensureWebroot(stateDir, env), ...CHALLENGE_SUBDIR.split('/'), token);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, file);
}

export function removeToken(stateDir: string, env: string, token: string): void {
  rmSync(path.join(webrootDir(stateDir, env), ...CHALLENGE_SUBDIR.split('/'), token), { force: true });
}
