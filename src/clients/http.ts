// HTTP requests lifeops makes itself: endpoint checks and the smoke test on
// published 127.0.0.1 ports, and notification webhooks. Each has a deadline.
export interface HttpAnswer {
  status: number;
  ok: boolean;
  body: string;
}

export async function httpGet(url: string, opts: { timeoutMs: number; headers?: Record<string, string>; followRedirects?: boolean }): Promise<HttpAnswer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), headers: opts.headers, redirect: opts.followRedirects === false ? 'manual' : 'follow' });
  const body = await res.text();
  return { status: res.status, ok: res.ok, body };
}

/** POST a body; only the status comes back (a webhook's answer is not read). */
export async function httpPost(url: string, body: string, opts: { timeoutMs: number; contentType: string }): Promise<{ status: number; ok: boolean }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': opts.contentType }, body, signal: AbortSignal.timeout(opts.timeoutMs) });
  await res.body?.cancel().catch(() => undefined);
  return { status: res.status, ok: res.ok };
}
