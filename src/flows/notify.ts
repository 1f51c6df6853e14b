// Deploy notifications to Slack or a generic webhook: JSON POST, all sent at
// once with a timeout each, payload passed through the run's redactor;
// failures are logged as warnings, never fatal. Only a URL's host is ever
// logged: webhook tokens live in the path or the query.
import type { Stack } from '../config/schema.js';
import type { Redactor } from '../util/redact.js';
import type { Run } from './context.js';
import { httpPost } from '../clients/http.js';

export interface DeployEvent {
  env: string;
  project: string;
  version: string;
  outcome: 'success' | 'failed' | 'rolled-back';
  run_id: string;
  duration_ms: number;
  user: string;
  message?: string;
}

export const NOTIFY_TIMEOUT_MS = 5000;

// Slack section text is limited to 3000 characters.
const SLACK_TEXT_MAX = 2900;

const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function summary(ev: DeployEvent): string {
  return `lifeops deploy ${ev.project} (${ev.env}) version ${ev.version}: ${ev.outcome} in ${Math.round(ev.duration_ms / 1000)}s by ${ev.user} (run ${ev.run_id})`;
}

export function payloadFor(type: 'slack' | 'webhook', ev: DeployEvent): unknown {
  const text = `${summary(ev)}${ev.message ? `\n${ev.message}` : ''}`;
  if (type === 'webhook') return { event: 'deploy', text, ...ev };
  const icon = ev.outcome === 'success' ? ':white_check_mark:' : ev.outcome === 'rolled-back' ? ':leftwards_arrow_with_hook:' : ':x:';
  const detail = ev.message ? `\n\`\`\`${slackEscape(ev.message).slice(0, SLACK_TEXT_MAX - 200)}\`\`\`` : '';
  return {
    // `text` is what notifications and clients without blocks show
    text: `${icon} ${slackEscape(text)}`.slice(0, SLACK_TEXT_MAX),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${icon} *${slackEscape(ev.project)}* (${slackEscape(ev.env)}) version \`${slackEscape(ev.version)}\`: *${ev.outcome}*${detail}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `run \`${ev.run_id}\` · ${Math.round(ev.duration_ms / 1000)}s · by ${slackEscape(ev.user)}` }] },
    ],
  };
}

/** Pure: the exact body sent, secrets masked. */
export function notificationBody(type: 'slack' | 'webhook', ev: DeployEvent, redactor: Redactor): string {
  return JSON.stringify(redactor.value(payloadFor(type, ev)));
}

/** The host of a notification URL, never its path or query. */
export function urlHost(url: string): string {
  try {
    return new URL(url).host || '?';
  } catch {
    return '(invalid URL)';
  }
}

/** Why a POST failed, without the URL (fetch puts it in some messages). */
export function failureReason(e: unknown, url: string, timeoutMs: number): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs / 1000}s`;
  const why = [err.message, err.cause?.code ?? err.cause?.message].filter(Boolean).join(': ');
  return why.split(url).join(urlHost(url));
}

export async function notify(stack: Stack, run: Run, ev: DeployEvent, opts: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const results = await Promise.all(
    stack.deploy.notifications.map(async (n) => {
      const host = urlHost(n.url);
      try {
        const res = await httpPost(n.url, notificationBody(n.type, ev, run.redactor), { timeoutMs, contentType: 'application/json' });
        return { type: n.type, host, status: res.status, error: res.ok ? undefined : `answered ${res.status}` };
      } catch (e) {
        return { type: n.type, host, error: run.redactor.text(failureReason(e, n.url, timeoutMs)) };
      }
    }),
  );
  for (const r of results) {
    run.info('notify', r);
    if (r.error) run.say(`warning: ${r.type} notification to ${r.host} failed: ${r.error}`);
  }
}
