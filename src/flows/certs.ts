// front.tls.acme: obtain and renew the nginx front's certificates (HTTP-01
// through the front's webroot), install them in the state dir, and list them.
// A CA that refuses never fails the caller: the domain keeps the certificate
// it has (or stays on HTTP), the attempt and the CA's reason are recorded
// (certs list, status), and the next cron run retries with backoff.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { orderCertificate, newKeyPem } from '../clients/acme.js';
import { httpGetLoopback } from '../clients/http.js';
import { planCertificates, tlsDomains, type CertDecision } from '../plan/certs.js';
import { configuredHostPort } from '../plan/status.js';
import { readAccountKey, writeAccountKey, ensureWebroot, installCert, putToken, readAttempts, readInstalled, recordAttempt, removeToken, writeAccount, type CertAttempt } from '../state/certs.js';
import type { Run } from './context.js';

export interface CertOutcome extends CertDecision {
  result: 'issued' | 'renewed' | 'kept' | 'waiting' | 'failed';
  error?: string;
  serial?: string;
  not_after?: string;
  duration_ms?: number;
}

/** The stack uses lifeops' own ACME client: front.tls.acme on an nginx front with a TLS domain. */
export function acmeFront(stack: Stack) {
  const front = stack.front;
  return front?.tls.acme && front.kind === 'nginx' && tlsDomains(front).length ? { front, acme: front.tls.acme } : undefined;
}

/** The domains with an installed certificate (what the front may serve over HTTPS); undefined without front.tls.acme. */
export function certifiedDomains(stack: Stack, stateDir: string): string[] | undefined {
  const a = acmeFront(stack);
  if (!a) return undefined;
  return tlsDomains(a.front)
    .map((d) => d.domain)
    .filter((d) => readInstalled(stateDir, stack.env, d));
}

function facts(stack: Stack, stateDir: string) {
  const installed: Record<string, { names: string[]; not_after: string }> = {};
  for (const { domain } of tlsDomains(stack.front!)) {
    const c = readInstalled(stateDir, stack.env, domain);
    if (c) installed[domain] = { names: c.names, not_after: c.not_after };
  }
  return { installed, attempts: readAttempts(stateDir, stack.env) };
}

/** The front's published HTTP port on 127.0.0.1, to check the challenge path before the CA does. */
async function frontHttpPort(stack: Stack, run: Run): Promise<number | undefined> {
  const front = stack.front!;
  const configured = configuredHostPort(stack.services[front.service]?.ports ?? [], front.listen_port);
  if (configured) return configured;
  const c = (await run.docker.projectContainers(stack.project)).find((x) => x.service === front.service && x.state === 'running');
  return c?.ports[front.listen_port];
}

/** The challenge path answers for `names` through the front: a file put in the webroot is read back with each Host. */
async function checkChallengePath(stack: Stack, run: Run, stateDir: string, names: string[]): Promise<void> {
  const port = await frontHttpPort(stack, run);
  if (!port) return; // not published on the loopback: the CA's own validation is the check
  const token = `lifeops-check-${randomBytes(12).toString('base64url')}`;
  const content = randomBytes(16).toString('hex');
  putToken(stateDir, stack.env, token, content);
  try {
    for (const name of names) {
      const r = await httpGetLoopback({ port, path: `/.well-known/acme-challenge/${token}`, hostHeader: name, timeoutMs: 5000 }).catch((e: Error) => ({ status: 0, excerpt: e.message }));
      if (r.status !== 200 || r.excerpt !== content) {
        throw new Error(`the front does not serve the challenge path for ${name} (GET http://127.0.0.1:${port}/.well-known/acme-challenge/… answered ${r.status || r.excerpt}): nothing was asked of the CA`);
      }
    }
  } finally {
    removeToken(stateDir, stack.env, token);
  }
}

async function order(stack: Stack, run: Run, stateDir: string, d: CertDecision): Promise<Pick<CertOutcome, 'serial' | 'not_after'>> {
  const acme = stack.front!.tls.acme!;
  await checkChallengePath(stack, run, stateDir, d.names);
  let accountKeyPem = readAccountKey(stateDir, stack.env);
  if (!accountKeyPem) writeAccountKey(stateDir, stack.env, (accountKeyPem = await newKeyPem()));
  const got = await orderCertificate({
    directory: acme.directory,
    ...(acme.ca_bundle ? { caBundlePath: path.resolve(stack.baseDir, acme.ca_bundle) } : {}),
    email: acme.email,
    accountKeyPem,
    names: d.names,
    putToken: (token, content) => putToken(stateDir, stack.env, token, content),
    removeToken: (token) => removeToken(stateDir, stack.env, token),
  });
  writeAccount(stateDir, stack.env, { directory: acme.directory, url: got.accountUrl });
  const c = installCert(stateDir, stack.env, d.domain, got.keyPem, got.fullchainPem);
  return { serial: c.serial, not_after: c.not_after };
}

/**
 * Asks the CA for every certificate that is missing, short of names, due
 * (renew_before) or forced; one logged step per domain. Never throws for a
 * refusal: the outcome carries it.
 */
export async function obtainCertificates(stack: Stack, run: Run, stateDir: string, o: { force?: boolean; backoff?: boolean } = {}): Promise<CertOutcome[]> {
  const a = acmeFront(stack);
  if (!a) return [];
  ensureWebroot(stateDir, stack.env);
  const decisions = planCertificates(a.front, facts(stack, stateDir), run.io.now(), o);
  const out: CertOutcome[] = [];
  for (const d of decisions) {
    if (d.action === 'keep' || d.action === 'wait') {
      run.info('certificate', { domain: d.domain, action: d.action, reason: d.reason });
      out.push({ ...d, result: d.action === 'keep' ? 'kept' : 'waiting' });
      continue;
    }
    const t0 = performance.now();
    const time = run.io.now().toISOString();
    try {
      const got = await run.step(`certificate for ${d.names.join(', ')} from ${a.acme.directory} (${d.reason})`, () => order(stack, run, stateDir, d));
      recordAttempt(stateDir, stack.env, d.domain, { time, ok: true, ...(o.force ? { forced: true } : {}) });
      out.push({ ...d, result: d.action === 'issue' ? 'issued' : 'renewed', ...got, duration_ms: Math.round(performance.now() - t0) });
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      const error = run.redactor.text(((e as Error).message ?? String(e)).split('\n')[0]);
      const rec = recordAttempt(stateDir, stack.env, d.domain, { time, ok: false, error, ...(o.force ? { forced: true } : {}) });
      const keeps = d.action === 'issue' ? 'it stays on HTTP' : 'HTTPS keeps the certificate it has';
      run.say(`error: no certificate for ${d.domain}: the CA at ${a.acme.directory} refused: ${error} (${keeps}; attempt ${rec.failures} in a row)`);
      out.push({ ...d, result: 'failed', error, duration_ms: Math.round(performance.now() - t0) });
    }
  }
  return out;
}

export interface CertListing {
  domain: string;
  names: string[];
  issuer?: string;
  serial?: string;
  not_after?: string;
  days_left?: number;
  last_attempt?: CertAttempt;
}

/** What `certs list` shows: every TLS domain of the stack, its installed certificate and its last attempt. */
export function listCertificates(stack: Stack, stateDir: string, now: Date): CertListing[] {
  const a = acmeFront(stack);
  if (!a) return [];
  const attempts = readAttempts(stateDir, stack.env);
  return tlsDomains(a.front).map(({ domain, names }) => {
    const c = readInstalled(stateDir, stack.env, domain);
    return {
      domain,
      names,
      ...(c ? { issuer: c.issuer, serial: c.serial, not_after: c.not_after, days_left: Math.floor((Date.parse(c.not_after) - now.getTime()) / 86_400_000) } : {}),
      ...(attempts[domain] ? { last_attempt: attempts[domain] } : {}),
    };
  });
}
