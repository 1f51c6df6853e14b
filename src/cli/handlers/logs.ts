// lifeops logs [service] | logs --run <run-id>
import { readFileSync } from 'node:fs';
import type { Cli } from '../context.js';
import { UsageError } from '../../errors.js';
import { runLogFile } from '../../state/paths.js';
import { formatDuration } from '../../util/units.js';
import { refuseUnhonoured } from '../../target/index.js';

export async function logsCommand(cli: Cli, service: string | undefined, o: { env?: string; follow?: boolean; tail?: number; run?: string }): Promise<number> {
  if (o.run) return replayRun(cli, o.run);
  const stack = cli.load(o.env, { allowMissing: true });
  if (service && !stack.services[service]) throw new UsageError(`no service "${service}" in ${stack.name}; services: ${Object.keys(stack.services).join(', ')}`);
  refuseUnhonoured(stack, 'logs', o);
  const target = await cli.target(stack);
  const code = await target.logs({ service, follow: o.follow, tail: o.tail, out: (s) => cli.io.stdout.write(s), err: (s) => cli.io.stderr.write(s) });
  return code === 0 ? 0 : 1;
}

function replayRun(cli: Cli, runId: string): number {
  if (!/^[0-9TZ]+-[0-9a-f]{6}$/.test(runId)) throw new UsageError(`not a run id: ${runId}`, 'run ids look like 20261124T180000Z-a1b2c3; see `lifeops history`');
  const file = runLogFile(cli.stateDir(), runId);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`no step log for run ${runId} (${file})`);
  }
  for (const line of text.split('\n').filter(Boolean)) {
    const e = JSON.parse(line);
    if (e.event === 'end') cli.out(`${e.end} ${e.outcome === 'ok' ? '✔' : '✘'} ${e.step} (${formatDuration(e.duration_ms)})${e.error ? ` — ${e.error}` : ''}`);
    else if (e.event === 'start') cli.out(`${e.start} ▶ ${e.step}`);
  }
  return 0;
}
