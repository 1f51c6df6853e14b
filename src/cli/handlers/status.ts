// lifeops health-check (status: handlers/status-report.ts)
import type { Cli } from '../context.js';
import { redactorFor } from '../../flows/context.js';

export async function healthCheckCommand(cli: Cli, o: { env?: string; retries: number; interval: number; json?: boolean }): Promise<number> {
  const stack = cli.load(o.env);
  const target = await cli.target(stack);
  const r = await target.healthCheck({
    retries: o.retries,
    intervalMs: o.interval * 1000,
    onRetry: (attempt, level, waitMs) => cli.err(`attempt ${attempt}/${o.retries}: ${level}; retrying in ${waitMs / 1000}s`),
  });
  if (o.json) cli.json(r.data, redactorFor(stack));
  else cli.io.stdout.write(r.text);
  return r.ok ? 0 : 1;
}
