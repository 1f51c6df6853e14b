// After certificates changed: the nginx front serves them. A newly certified
// domain needs its HTTPS server rendered; a renewed certificate only needs
// nginx to read its files again. Both end in `nginx -t` and a graceful reload
// (the old workers finish their requests: no request fails).
import { existsSync } from 'node:fs';
import type { Stack } from '../config/schema.js';
import { renderDir as renderDirFor } from '../state/paths.js';
import type { Run } from './context.js';
import { certifiedDomains, obtainCertificates, type CertOutcome } from './certs.js';
import { configHash, readRenderedDir, renderStack, writeRendered } from './render.js';
import { reloadFront } from './rollout.js';
import { lockAndRecover } from './recover.js';

export const changedCerts = (outcomes: CertOutcome[]) => outcomes.filter((o) => o.result === 'issued' || o.result === 'renewed');

/**
 * The render of the stack with the certificates now installed, when it
 * differs from `files` (a domain got its first certificate), else undefined.
 */
export function rerenderForCerts(stack: Stack, stateDir: string, files: { hash: string }, renderDir: string) {
  const next = renderStack(stack, renderDir, certifiedDomains(stack, stateDir));
  const hash = configHash(next);
  return hash === files.hash ? undefined : { files: next, hash };
}

export interface RenewOptions {
  stateDir: string;
  force?: boolean;
  commandLine: string;
  waitMs?: number;
}

export interface RenewResult {
  outcomes: CertOutcome[];
  reloaded: boolean;
  /** a domain got its first certificate but the files in force were not rendered from this stack: `deploy` serves it */
  needs_deploy?: string[];
}

/**
 * `lifeops certs renew` (and cron's renewal): under the deploy lock, the due
 * certificates (all with --force; cron's runs wait out the backoff of failed
 * ones), then a reload of the front. A first certificate is put into the
 * rendered files in force only when those are this stack's render: a stack
 * file edited since the last deploy is never half-deployed by a renewal.
 */
export async function renewCertificates(stack: Stack, run: Run, o: RenewOptions): Promise<RenewResult> {
  const lock = await lockAndRecover(stack, run, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs, title: 'take the deploy lock' });
  try {
    const before = certifiedDomains(stack, o.stateDir) ?? [];
    const outcomes = await obtainCertificates(stack, run, o.stateDir, { force: o.force, backoff: !o.force });
    const changed = changedCerts(outcomes);
    if (!changed.length) return { outcomes, reloaded: false };
    const dir = renderDirFor(o.stateDir, stack.env);
    const result: RenewResult = { outcomes, reloaded: false };
    if (existsSync(dir)) {
      const inForce = configHash(readRenderedDir(dir).filter((f) => !f.path.startsWith('nginx/maintenance/') && !f.path.startsWith('.lifeops')));
      const asDeployed = configHash(renderStack(stack, dir, before));
      const fresh = changed.filter((c) => !before.includes(c.domain)).map((c) => c.domain);
      if (fresh.length) {
        const next = rerenderForCerts(stack, o.stateDir, { hash: asDeployed }, dir);
        if (next && inForce === asDeployed) await run.step(`render HTTPS for ${fresh.join(', ')}`, async () => writeRendered(next.files, dir));
        else if (next) result.needs_deploy = fresh;
      }
    }
    await reloadFront({ stack, run, docker: run.docker }, `certificates ${changed.map((c) => `${c.result} for ${c.domain}`).join(', ')}`);
    result.reloaded = true;
    return result;
  } finally {
    lock.release();
  }
}
