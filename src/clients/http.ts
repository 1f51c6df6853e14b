// HTTP requests lifeops makes itself, each under a deadline: endpoint checks
// and the smoke test on published 127.0.0.1 ports, status's request through
// the front, notification webhooks and dead-man's-switch pings.
import http from 'node:http';
import https from 'node:https';

export interface HttpProbe {
  /** only loopback: lifeops never sends traffic to container addresses */
  port: number;
  path: string;
  /** the Host header (the domain the front serves) */
  hostHeader?: string;
  tls?: boolean;
  timeoutMs: number;
  /** further request headers (an Accept, say) */
  headers?: Record<string, string>;
}

export interface LoopbackAnswer {
  status: number;
  /** the first 200 characters of the body */
  excerpt: string;
  duration_ms: number;
  /** response headers, names in lower case */
  headers: Record<string, string | string[] | undefined>;
}

/** GET http(s)://127.0.0.1:PORT/PATH; rejects on no answer within the deadline or a refused connection. */
export function httpGetLoopback(p: HttpProbe): Promise<LoopbackAnswer> {
  const t0 = performance.now();
  const lib = p.tls ? https : http;
  return new Promise<LoopbackAnswer>((resolve, reject) => {
    const req = lib.request(
      {
        host: '127.0.0.1',
        port: p.port,
        method: 'GET',
        path: p.path,
        headers: { ...(p.hostHeader ? { host: p.hostHeader } : {}), 'user-agent': 'lifeops-status', connection: 'close', ...p.headers },
        ...(p.tls ? { servername: p.hostHeader, rejectUnauthorized: false } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 200) body += c;
        });
        res.on('end', () => {
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, excerpt: body.trim().slice(0, 200), duration_ms: Math.round(performance.now() - t0), headers: res.headers });
        });
        res.on('error', (e) => (clearTimeout(deadline), reject(e)));
      },
    );
    const deadline = setTimeout(() => {
      req.destroy(new Error(`no answer in ${p.timeoutMs} ms`));
    }, p.timeoutMs);
    req.on('error', (e) => (clearTimeout(deadline), reject(e)));
    req.end();
  });
}

/**
 * One dead-man's-switch ping (healthchecks-style: URL/start, URL/<exit code>):
 * a GET with a deadline, tried twice. Resolves to the HTTP status; rejects
 * when no attempt got an answer. The caller redacts the URL in anything it prints.
 */
export async function ping(url: string, timeoutMs = 10_000): Promise<number> {
  let last: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { 'user-agent': 'lifeops-cron' } });
      await res.body?.cancel();
      return res.status;
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`no answer: ${(last as Error)?.message ?? String(last)}`);
}

export interface HttpAnswer {
  status: number;
  ok: boolean;
  body: string;
  /** response headers, names in lower case */
  headers: Record<string, string>;
}

export async function httpGet(url: string, opts: { timeoutMs: number; headers?: Record<string, string>; followRedirects?: boolean }): Promise<HttpAnswer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), headers: opts.headers, redirect: opts.followRedirects === false ? 'manual' : 'follow' });
  const body = await res.text();
  return { status: res.status, ok: res.ok, body, headers: Object.fromEntries(res.headers) };
}

/** POST a body; only the status comes back (a webhook's answer is not read). */
export async function httpPost(url: string, body: string, opts: { timeoutMs: number; contentType: string }): Promise<{ status: number; ok: boolean }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': opts.contentType }, body, signal: AbortSignal.timeout(opts.timeoutMs) });
  await res.body?.cancel().catch(() => undefined);
  return { status: res.status, ok: res.ok };
}
