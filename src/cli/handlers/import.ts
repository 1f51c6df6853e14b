// lifeops import docker-compose.yml [--env-file F] [-o stack.yaml]: writes a
// stack file and its env file (secrets: mode 0600, never printed) from an
// existing compose setup, then loads the stack it wrote to prove it loads.
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { Cli } from '../context.js';
import { ConfigError, OperationError, UsageError } from '../../errors.js';
import { importCompose } from '../../import/compose.js';
import { loadStack } from '../../config/load.js';
import { parseEnvText } from '../../config/envfile.js';
import { Redactor } from '../../util/redact.js';

export interface ImportOptions {
  envFile?: string;
  out?: string;
  project?: string;
  force?: boolean;
  json?: boolean;
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

export function importCommand(cli: Cli, composeFile: string, o: ImportOptions): number {
  if (!existsSync(composeFile)) throw new UsageError(`${composeFile}: no such compose file`);
  const out = o.out ?? 'lifeops.yaml';
  const envOut = out.replace(/\.ya?ml$/, '') + '.env';
  for (const f of [out, envOut]) {
    if (existsSync(f) && !o.force) throw new UsageError(`${f} exists; lifeops import does not overwrite it`, 'pass -o OTHER.yaml, or --force');
  }
  // compose reads the .env beside the compose file when no --env-file is given
  const envFile = o.envFile ?? (existsSync(path.join(path.dirname(composeFile), '.env')) ? path.join(path.dirname(composeFile), '.env') : undefined);
  if (o.envFile && !existsSync(o.envFile)) throw new UsageError(`--env-file ${o.envFile}: no such file`);
  const envText = envFile ? readFileSync(envFile, 'utf8') : undefined;
  const result = importCompose({
    composeText: readFileSync(composeFile, 'utf8'),
    composeFile,
    envText,
    outFile: out,
    envFileName: path.relative(path.dirname(path.resolve(out)), path.resolve(envOut)),
    project: o.project,
  });
  writeAtomic(envOut, result.env, 0o600);
  writeAtomic(out, result.stack, 0o644);
  const redactor = Redactor.forVars(parseEnvText(result.env), result.secretVars);
  // The stack written must load: anything the importer could not say in lifeops' terms shows here.
  try {
    loadStack({ file: out, processEnv: {}, env: 'production' });
  } catch (e) {
    const msg = e instanceof ConfigError ? e.message : String(e);
    throw new OperationError(`wrote ${out} and ${envOut}, but the stack does not load yet:\n${redactor.text(msg)}`, `edit ${out} where it says, then: lifeops -f ${out} validate`);
  }
  if (o.json) {
    cli.json({ stack: out, env_file: envOut, roles: result.roles, secret_variables: result.secretVars, notes: result.notes, loads: true });
    return 0;
  }
  cli.err(`wrote ${out} and ${envOut} (secrets: ${result.secretVars.length ? result.secretVars.join(', ') : 'none'}; the values are only in ${envOut})`);
  for (const [name, r] of Object.entries(result.roles)) cli.err(`  ${name.padEnd(16)} ${r.role.padEnd(9)} ${r.why}`);
  for (const n of result.notes) cli.err(`  note: ${redactor.text(n)}`);
  cli.err(`next: lifeops -f ${out} validate, then lifeops -f ${out} deploy production`);
  return 0;
}
