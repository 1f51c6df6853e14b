// status' TLS facts: the certificate the front actually serves for each TLS
// domain, read over TLS with the domain as SNI on the front's published 443
// port (what a browser gets, not what a file says); where 443 is not
// published on the loopback, the file nginx reads, inside the front container.
// With front.tls.acme, the last renewal attempt comes along (a failed one is a WARNING).
import { X509Certificate } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import type { ContainerState } from '../clients/docker.js';
import { probeServedCert } from '../clients/tls-probe.js';
import { domainTls } from '../render/front.js';
import { configuredHostPort, type TlsFact } from '../plan/status.js';
import { readAttempts, readInstalled } from '../state/certs.js';
import type { Run } from './context.js';

const ms = (t0: number) => Math.round(performance.now() - t0);
const firstLine = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0];

export async function tlsFacts(stack: Stack, ctx: Pick<Run, 'docker' | 'stateDir'>, containers: ContainerState[], deadline: number): Promise<TlsFact[]> {
  const front = stack.front;
  if (!front || front.kind !== 'nginx') return []; // traefik keeps its certificates in acme.json: not read here
  const domains = front.domains.filter((d) => domainTls(front, d));
  if (!domains.length) return [];
  const acme = front.tls.acme;
  const attempts = acme ? readAttempts(ctx.stateDir, stack.env) : {};
  const c = containers.find((x) => x.service === front.service && x.state === 'running');
  const tlsPort = configuredHostPort(stack.services[front.service]?.ports ?? [], 443) ?? c?.ports[443];
  return Promise.all(
    domains.map(async (d): Promise<TlsFact> => {
      const t0 = performance.now();
      const a = attempts[d.name];
      const base = { domain: d.name, ...(a ? { last_attempt: { time: a.time, ok: a.ok, failures: a.failures, ...(a.error ? { error: a.error } : {}) } } : {}) };
      // front.tls.acme before a first certificate: served over HTTP, nothing to probe
      if (acme && !readInstalled(ctx.stateDir, stack.env, d.name)) return { ...base, file: 'none', pending: a?.error ?? 'no certificate obtained yet (deploy obtains it)', duration_ms: 0 };
      if (!c) return { ...base, file: '?', error: 'the front has no running container', duration_ms: 0 };
      const timeout = Math.max(500, Math.min(5000, deadline - Date.now()));
      if (tlsPort) {
        const where = `served on 127.0.0.1:${tlsPort} (SNI ${d.name})`;
        try {
          const s = await probeServedCert(tlsPort, d.name, timeout);
          return { ...base, file: where, source: 'served', not_after: s.not_after, issuer: s.issuer, name_match: s.name_match, duration_ms: ms(t0) };
        } catch (e) {
          return { ...base, file: where, source: 'served', error: firstLine(e), duration_ms: ms(t0) };
        }
      }
      const file = `${front.tls.certs_dir}/${d.name}/fullchain.pem`;
      try {
        const r = await ctx.docker.exec(c.id, ['cat', file], timeout);
        if (r.exitCode !== 0) throw new Error(r.output.trim().split('\n')[0] || `cat exit ${r.exitCode}`);
        const cert = new X509Certificate(r.output);
        return { ...base, file, source: 'file', not_after: new Date(cert.validTo).toISOString(), name_match: cert.checkHost(d.name) !== undefined, duration_ms: ms(t0) };
      } catch (e) {
        return { ...base, file, error: firstLine(e), duration_ms: ms(t0) };
      }
    }),
  );
}
