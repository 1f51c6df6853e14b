// lifeops import [compose-file|folder] [--env-file F] [-o stack.yaml]: writes
// a stack file and its env file (secrets: mode 0600, never printed) from an
// existing compose setup, read as compose reads it (the override file beside
// a default-named compose file, the folder's .env). All or nothing: the stack
// is written to a scratch name beside its destination and loaded first; only
// a stack that loads is put in place, anything else exits 2 naming the key.
import { existsSync, readFileSync, writeFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Cli } from '../context.js';
import { ConfigError, UsageError } from '../../errors.js';
import { importCompose, type ImportInput } from '../../import/compose.js';
import { defaultComposeFile, overrideFileFor } from '../../import/files.js';
import { loadStack } from '../../config/load.js';
import { parseEnvText } from '../../config/envfile.js';
import { Redactor } from '../../util/redact.js';

export interface ImportOptions {
  envFile?: string;
  out?: string;
  project?: string;
  force?: boolean;
  json?: boolean;
  /** false with --no-override: read only the file named */
  override?: boolean;
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

export function importCommand(cli: Cli, target: string, o: ImportOptions): number {
  if (!existsSync(target)) throw new UsageError(`${target}: no such compose file`);
  const isDir = statSync(target).isDirectory();
  const composeFile = isDir ? defaultComposeFile(target, existsSync) : target;
  if (!composeFile) throw new UsageError(`${target}: no compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml in it`);
  const out = o.out ?? 'lifeops.yaml';
  const envOut = out.replace(/\.ya?ml$/, '') + '.env';
  for (const f of [out, envOut]) {
    if (existsSync(f) && !o.force) throw new UsageError(`${f} exists; lifeops import does not overwrite it`, 'pass -o OTHER.yaml, or --force');
  }
  // compose reads the .env beside the compose file when no --env-file is given
  const envFile = o.envFile ?? (existsSync(path.join(path.dirname(composeFile), '.env')) ? path.join(path.dirname(composeFile), '.env') : undefined);
  if (o.envFile && !existsSync(o.envFile)) throw new UsageError(`--env-file ${o.envFile}: no such file`);
  const override = o.override === false ? undefined : overrideFileFor(composeFile, existsSync);
  const outDir = path.dirname(path.resolve(out));
  const input: ImportInput = {
    composeText: readFileSync(composeFile, 'utf8'),
    composeFile,
    overrides: override ? [{ text: readFileSync(override, 'utf8'), file: override }] : [],
    envText: envFile ? readFileSync(envFile, 'utf8') : undefined,
    envFile,
    processEnv: cli.io.env,
    outFile: out,
    envFileName: path.relative(outDir, path.resolve(envOut)),
    project: o.project,
  };
  // The trial: the same stack under scratch names beside the destination (relative paths resolve the same).
  const scratch = path.join(outDir, `.lifeops-import-${process.pid}`);
  const trial = importCompose({ ...input, envFileName: path.basename(`${scratch}.env`) });
  const result = importCompose(input);
  const redactor = Redactor.forVars(parseEnvText(result.env, cli.io.env), result.secretVars);
  try {
    writeFileSync(`${scratch}.env`, trial.env, { mode: 0o600 });
    writeFileSync(`${scratch}.yaml`, trial.stack, { mode: 0o600 });
    loadStack({ file: `${scratch}.yaml`, processEnv: cli.io.env, env: 'production' });
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split(`${scratch}.yaml`).join(out).split(path.basename(`${scratch}.yaml`)).join(path.basename(out));
    throw new ConfigError(
      `${redactor.text(msg)}\n(the stack lifeops would write from ${[composeFile, ...(override ? [override] : [])].join(' + ')} does not load; nothing was written)`,
      e instanceof ConfigError && e.hint ? `${redactor.text(e.hint)}; or change ${path.basename(composeFile)} (or its .env) where it says, then import again` : `change ${path.basename(composeFile)} (or its .env) where it says, then import again`,
    );
  } finally {
    rmSync(`${scratch}.env`, { force: true });
    rmSync(`${scratch}.yaml`, { force: true });
  }
  writeAtomic(envOut, result.env, 0o600);
  writeAtomic(out, result.stack, 0o644);
  if (o.json) {
    cli.json({ stack: out, env_file: envOut, read: [composeFile, ...(override ? [override] : []), ...(envFile ? [envFile] : [])], roles: result.roles, secret_variables: result.secretVars, notes: result.notes.map((n) => redactor.text(n)), loads: true });
    return 0;
  }
  cli.err(`read ${[composeFile, ...(override ? [override] : []), ...(envFile ? [envFile] : [])].join(', ')}`);
  cli.err(`wrote ${out} and ${envOut} (secrets: ${result.secretVars.length ? result.secretVars.join(', ') : 'none'}; the values are only in ${envOut})`);
  for (const [name, r] of Object.entries(result.roles)) cli.err(`  ${name.padEnd(16)} ${r.role.padEnd(9)} ${r.why}`);
  for (const n of result.notes) cli.err(`  note: ${redactor.text(n)}`);
  cli.err(`next: lifeops -f ${out} validate, then lifeops -f ${out} deploy production`);
  return 0;
}
