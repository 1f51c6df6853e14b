// lifeops import [compose-file|folder] [--env-file F] [-o stack.yaml]: writes
// a stack file and its env file (secrets: mode 0600, never printed) from an
// existing compose setup, read as compose reads it (the override file beside
// a default-named compose file, the folder's .env). All or nothing: the stack
// is written to a scratch name beside its destination and loaded first; only
// a stack that loads is put in place, anything else exits 2 naming the key.
import { existsSync, readFileSync, writeFileSync, renameSync, rmSync, statSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Cli } from '../context.js';
import { ConfigError, LifeopsError, UsageError } from '../../errors.js';
import { importCompose, type ImportInput } from '../../import/compose.js';
import { composeFilesIn, defaultComposeFile } from '../../import/files.js';
import { loadStack } from '../../config/load.js';
import { parseEnvText } from '../../config/envfile.js';
import { Redactor } from '../../util/redact.js';
import { importRoundTrip } from '../../flows/import-check.js';
import { realEffects } from '../../flows/effects.js';
import { renderStack } from '../../flows/render.js';

export interface ImportOptions {
  envFile?: string;
  out?: string;
  project?: string;
  force?: boolean;
  json?: boolean;
  /** false with --no-override: read only the file named */
  override?: boolean;
  /** compare compose's reading of the original with its reading of the rendered stack */
  check?: boolean;
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

export async function importCommand(cli: Cli, target: string, o: ImportOptions): Promise<number> {
  if (!existsSync(target)) throw new UsageError(`${target}: no such compose file`);
  const isDir = statSync(target).isDirectory();
  const dir = isDir ? target : path.dirname(target);
  const out = o.out ?? 'lifeops.yaml';
  const envOut = out.replace(/\.ya?ml$/, '') + '.env';
  for (const f of [out, envOut]) {
    if (existsSync(f) && !o.force) throw new UsageError(`${f} exists; lifeops import does not overwrite it`, 'pass -o OTHER.yaml, or --force');
  }
  // compose reads the .env beside the compose file when no --env-file is given
  const envFile = o.envFile ?? (existsSync(path.join(dir, '.env')) ? path.join(dir, '.env') : undefined);
  if (o.envFile && !existsSync(o.envFile)) throw new UsageError(`--env-file ${o.envFile}: no such file`);
  const envText = envFile ? readFileSync(envFile, 'utf8') : undefined;
  // the files compose reads there: a folder, or the file compose would pick in it, reads COMPOSE_FILE or the default file and its override
  const picked = defaultComposeFile(dir, existsSync);
  const picksItself = isDir || picked === path.join(dir, path.basename(target));
  const files = !picksItself ? [target] : o.override === false ? (picked ? [picked] : []) : composeFilesIn(dir, { ...parseEnvText(envText ?? '', cli.io.env, envFile), ...definedOnly(cli.io.env) }, existsSync);
  if (!files.length) throw new UsageError(`${target}: no compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml in it`);
  for (const f of files) if (!existsSync(f)) throw new UsageError(`${f}: no such compose file (named by COMPOSE_FILE)`);
  const [composeFile, ...overrides] = files;
  const outDir = path.dirname(path.resolve(out));
  const input: ImportInput = {
    composeText: readFileSync(composeFile, 'utf8'),
    composeFile,
    overrides: overrides.map((f) => ({ text: readFileSync(f, 'utf8'), file: f })),
    envText,
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
  const madeDir = !existsSync(outDir);
  mkdirSync(outDir, { recursive: true });
  try {
    writeFileSync(`${scratch}.env`, trial.env, { mode: 0o600 });
    writeFileSync(`${scratch}.yaml`, trial.stack, { mode: 0o600 });
    // loads AND renders: a key the renderers refuse (a secret in a healthcheck's command) fails the import too
    const loaded = loadStack({ file: `${scratch}.yaml`, processEnv: cli.io.env, env: 'production' });
    renderStack(loaded, path.join(outDir, '.lifeops-import-render'));
  } catch (e) {
    rmSync(`${scratch}.env`, { force: true });
    rmSync(`${scratch}.yaml`, { force: true });
    if (madeDir) rmSync(outDir, { recursive: true, force: true });
    const real = (t: string) => [[`${scratch}.yaml`, out], [`${scratch}.env`, envOut], [path.basename(`${scratch}.yaml`), path.basename(out)], [path.basename(`${scratch}.env`), path.basename(envOut)]].reduce((acc, [a, b]) => acc.split(a).join(b), t);
    // a key the stack shares with the compose files is shown where the user can change it: in the compose file
    const msg = real(e instanceof Error ? e.message : String(e))
      .split('\n')
      .map((line) => {
        const m = /^\S+?:\d+:\d+: ((?:services|networks|volumes)\.[^\s:]+): /.exec(line);
        const at = m ? trial.where(m[1].split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k))) : undefined;
        return m && at ? `${at}: ${line.slice(line.indexOf(m[1]))}` : line;
      })
      .join('\n');
    throw new ConfigError(
      `${redactor.text(msg)}\n(the stack lifeops would write from ${files.join(' + ')} does not load; nothing was written)`,
      // the check that refused says what to do, when it knows; then where to do it
      `${e instanceof LifeopsError && e.hint ? `${e.hint}: ` : ''}change ${path.basename(composeFile)} (or its .env) where it says, then import again`,
    );
  } finally {
    rmSync(`${scratch}.env`, { force: true });
    rmSync(`${scratch}.yaml`, { force: true });
  }
  writeAtomic(envOut, result.env, 0o600);
  writeAtomic(out, result.stack, 0o644);
  // a command compared may hold a value of the env file (a password the original put on a command line)
  const differences = o.check ? (await importRoundTrip(realEffects, cli.io.env, out, files, o.envFile)).map((d) => redactor.text(d)) : undefined;
  if (o.json) {
    cli.json({ stack: out, env_file: envOut, ...(differences ? { differences } : {}), read: [...files, ...(envFile ? [envFile] : [])], roles: result.roles, secret_variables: result.secretVars, notes: result.notes.map((n) => redactor.text(n)), loads: true });
    return differences?.length ? 1 : 0;
  }
  cli.err(`read ${[...files, ...(envFile ? [envFile] : [])].join(', ')}`);
  cli.err(`wrote ${out} and ${envOut} (secrets: ${result.secretVars.length ? result.secretVars.join(', ') : 'none'}; the values are only in ${envOut})`);
  for (const [name, r] of Object.entries(result.roles)) cli.err(`  ${name.padEnd(16)} ${r.role.padEnd(9)} ${r.why}`);
  for (const n of result.notes) cli.err(`  note: ${redactor.text(n)}`);
  if (differences) {
    if (differences.length) {
      cli.err(`check: docker compose reads ${differences.length} difference${differences.length > 1 ? 's' : ''} between the original and the rendered stack:`);
      for (const d of differences) cli.err(`  ${d}`);
      return 1;
    }
    cli.err('check: docker compose reads the same services from the original and from the rendered stack');
  }
  cli.err(`next: lifeops -f ${out} validate, then lifeops -f ${out} deploy production`);
  return 0;
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
