// Which certificates of front.tls.acme to ask the CA for, and why. Pure: the
// stack, what is installed and the last attempts in; one decision per domain out.
import type { Front } from '../config/schema.js';
import { domainTls } from '../render/front.js';

export interface CertFacts {
  /** domain -> the names its installed certificate covers and when it expires */
  installed: Record<string, { names: string[]; not_after: string }>;
  /** domain -> the last attempt (time, outcome, consecutive failures) */
  attempts: Record<string, { time: string; ok: boolean; failures: number }>;
}

export interface CertDecision {
  domain: string;
  /** the domain first, then its aliases */
  names: string[];
  action: 'issue' | 'renew' | 'keep' | 'wait';
  reason: string;
}

export interface CertPlanOptions {
  force?: boolean;
  /** cron's renewals: a domain whose last attempts failed waits (1 h, doubling, at most 24 h) */
  backoff?: boolean;
}

const DAY = 86_400_000;

/** How long after `failures` consecutive failures the next attempt waits. */
export function backoffMs(failures: number): number {
  return failures <= 0 ? 0 : Math.min(24, 2 ** (failures - 1)) * 3_600_000;
}

/** The domains served over TLS with their names: what certificates must exist. */
export function tlsDomains(front: Front): { domain: string; names: string[] }[] {
  return front.domains.filter((d) => domainTls(front, d)).map((d) => ({ domain: d.name, names: [d.name, ...d.aliases] }));
}

export function planCertificates(front: Front, facts: CertFacts, now: Date, o: CertPlanOptions = {}): CertDecision[] {
  const renewBeforeDays = front.tls.acme?.renew_before ?? 30;
  return tlsDomains(front).map(({ domain, names }): CertDecision => {
    const have = facts.installed[domain];
    const last = facts.attempts[domain];
    const decide = (action: CertDecision['action'], reason: string): CertDecision => ({ domain, names, action, reason });
    let want: CertDecision;
    if (!have) want = decide('issue', 'no certificate yet');
    else {
      const missing = names.filter((n) => !have.names.includes(n));
      const daysLeft = (Date.parse(have.not_after) - now.getTime()) / DAY;
      if (o.force) want = decide('renew', `forced (${Math.floor(daysLeft)} days left)`);
      else if (missing.length) want = decide('renew', `the certificate does not cover ${missing.join(', ')}`);
      else if (daysLeft < renewBeforeDays) want = decide('renew', `${daysLeft.toFixed(1)} days left, under renew_before (${renewBeforeDays})`);
      else return decide('keep', `${Math.floor(daysLeft)} days left (renewal under ${renewBeforeDays})`);
    }
    if (o.backoff && !o.force && last && !last.ok) {
      const next = Date.parse(last.time) + backoffMs(last.failures);
      if (next > now.getTime()) return decide('wait', `${want.reason}; ${last.failures} failed attempt(s), the next after ${new Date(next).toISOString()}`);
    }
    return want;
  });
}
