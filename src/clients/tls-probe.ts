// The certificate a TLS server actually presents for a name (SNI), read with
// node:tls on a loopback port: what a browser would get, not what a file says.
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';

export interface ServedCert {
  subject_names: string[];
  issuer: string;
  serial: string;
  not_after: string;
  /** the certificate covers the name asked for (checkServerIdentity) */
  name_match: boolean;
  /** the chain verifies against the given CA (undefined: no CA given, not checked) */
  chain_ok?: boolean;
  chain_error?: string;
}

export function probeServedCert(port: number, servername: string, timeoutMs: number, ca?: string): Promise<ServedCert> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...(ca ? { ca } : {}) });
    const timer = setTimeout(() => sock.destroy(new Error(`no TLS handshake in ${timeoutMs} ms`)), timeoutMs);
    sock.once('error', (e) => (clearTimeout(timer), reject(e)));
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = sock.getPeerX509Certificate();
      const authorized = sock.authorized;
      const authError = sock.authorizationError;
      sock.end();
      if (!peer) return reject(new Error('the server presented no certificate'));
      resolve(describeServed(peer, servername, ca ? { ok: authorized, error: authError ? String(authError) : undefined } : undefined));
    });
  });
}

function describeServed(cert: X509Certificate, servername: string, chain?: { ok: boolean; error?: string }): ServedCert {
  const names = (cert.subjectAltName ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  return {
    subject_names: names,
    issuer: /(?:^|\n)CN=([^\n]+)/.exec(cert.issuer)?.[1] ?? cert.issuer.replace(/\n/g, ', '),
    serial: cert.serialNumber,
    not_after: new Date(cert.validTo).toISOString(),
    name_match: cert.checkHost(servername) !== undefined,
    ...(chain ? { chain_ok: chain.ok, ...(chain.error ? { chain_error: chain.error } : {}) } : {}),
  };
}
