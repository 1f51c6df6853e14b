// Deploy notifications to Slack or a generic webhook: JSON POST, 5 s timeout,
// payload passed through the run's redactor; failures are logged, never fatal.
import type { Stack } from '../config/schema.js';
import type { Run } from './context.js';

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

export function payloadFor(type: 'slack' | 'webhook', ev: DeployEvent): unknown {
  const icon = ev.outcome === 'success' ? ':white_check_mark:' : ev.outcome === 'rolled-back' ? ':leftwards_arrow_with_hook:' : ':x:';
  const text = `${icon} lifeops deploy ${ev.project} (${ev.env}) version ${ev.version}: ${ev.outcome} in ${Math.round(ev.duration_ms / 1000)}s by ${ev.user} (run ${ev.run_id})${ev.message ? `\n${ev.message}` : ''}`;
  if (type === 'slack') return { text };
  return { event: 'deploy', text, ...ev };
}

export async function notify(stack: Stack, run: Run, ev: DeployEvent, opts: { timeoutMs?: number } = {}): Promise<void> {
  for (const n of stack.deploy.notifications) {
    let host = '?';
    try {
      host = new URL(n.url).host;
    } catch {
      /* reported below */
    }
    const body = JSON.stringify(run.redactor.value(payloadFor(n.type, ev)));
    try {
      const res = await fetch(n.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) });
      run.info('notify', { type: n.type, host, status: res.status });
      if (!res.ok) run.say(`warning: ${n.type} notification to ${host} answered ${res.status}`);
    } catch (e) {
      run.info('notify', { type: n.type, host, error: run.redactor.text((e as Error).message) });
      run.say(`warning: ${n.type} notification to ${host} failed: ${run.redactor.text((e as Error).message)}`);
    }
  }
}
