// lifeops certs list | renew [--force]
import chalk from 'chalk';
import type { Cli } from '../context.js';
import type { Stack } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { acmeFront, listCertificates, type CertListing } from '../../flows/certs.js';
import { renewCertificates } from '../../flows/certs-apply.js';

export interface CertsArgs {
  env?: string;
  json?: boolean;
  force?: boolean;
  wait?: string;
}

function loadAcme(cli: Cli, env: string | undefined): Stack {
  const stack = cli.load(env, { allowMissing: true });
  if (!acmeFront(stack)) {
    throw new UsageError(`${stack.file}: front.tls.acme is not set for an nginx front with a TLS domain in ${stack.env}: lifeops manages no certificate there`, 'add front.tls.acme: { email: ... } and turn front.tls.enabled on (docs/https.md)');
  }
  return stack;
}

const attempt = (c: CertListing) =>
  c.last_attempt ? `${c.last_attempt.time} ${c.last_attempt.ok ? 'ok' : `FAILED (${c.last_attempt.failures} in a row): ${c.last_attempt.error ?? '?'}`}` : 'never';

export function certsListCommand(cli: Cli, o: CertsArgs): number {
  const stack = loadAcme(cli, o.env);
  const list = listCertificates(stack, cli.stateDir(), cli.io.now());
  if (o.json) {
    cli.json({ env: stack.env, directory: stack.front!.tls.acme!.directory, certificates: list });
    return 0;
  }
  for (const c of list) {
    const cert = c.not_after ? `${c.issuer}, not after ${c.not_after} (${c.days_left} days left), serial ${c.serial}` : 'no certificate (served over HTTP)';
    cli.out(`${c.domain}${c.names.length > 1 ? ` (+ ${c.names.slice(1).join(', ')})` : ''}: ${cert}; last renewal attempt: ${attempt(c)}`);
  }
  return 0;
}

export async function certsRenewCommand(cli: Cli, o: CertsArgs): Promise<number> {
  const stack = loadAcme(cli, o.env);
  const run = cli.newRun(stack);
  const r = await renewCertificates(stack, run, { stateDir: cli.stateDir(), force: o.force, commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait) });
  if (o.json) cli.json(r, run.redactor);
  for (const c of r.outcomes) {
    const line = `${c.domain}: ${c.result}${c.not_after ? ` (not after ${c.not_after}, serial ${c.serial})` : ''} - ${c.error ?? c.reason}`;
    if (!o.json) cli.err(c.result === 'failed' ? chalk.red(line) : line);
  }
  if (r.needs_deploy?.length && !o.json) cli.err(chalk.yellow(`${r.needs_deploy.join(', ')} got a first certificate, but the files in force differ from this stack's render: lifeops deploy ${stack.env} serves them over HTTPS`));
  if (!o.json) cli.err(r.reloaded ? `the front was reloaded gracefully (run ${run.id})` : `nothing changed (run ${run.id})`);
  return r.outcomes.some((c) => c.result === 'failed') ? 1 : 0;
}
