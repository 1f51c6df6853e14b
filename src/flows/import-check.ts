// `lifeops import --check`: compose's reading of the original setup against
// its reading of the stack the import wrote, rendered into a scratch folder.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OperationError, UsageError } from '../errors.js';
import { loadStack } from '../config/load.js';
import { meaningDiff } from '../import/check.js';
import { renderStack, writeRendered, composePaths } from './render.js';
import { detectCompose } from '../clients/compose-detect.js';
import type { Effects } from './effects.js';
import { REDIS_CONF, REDIS_PASSWORD_ENV } from '../render/datastores.js';

/**
 * --check: the stack written is rendered into a scratch folder, and compose
 * (v2) reads both setups; the differences, service by service (values of
 * environment keys never printed).
 */
export async function importRoundTrip(effects: Effects, processEnv: Record<string, string | undefined>, stackFile: string, composeFiles: string[], envFile: string | undefined): Promise<string[]> {
  const compose = await detectCompose();
  if (compose.kind !== 'v2') throw new UsageError('--check needs docker compose v2 (its `config --format json`); found only docker-compose v1', 'install the compose v2 plugin, or run the import without --check');
  const stack = loadStack({ file: stackFile, processEnv, env: 'production' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-import-check-'));
  try {
    const files = renderStack(stack, dir);
    writeRendered(files, dir);
    const read = async (args: string[], opts: { cwd: string; env?: Record<string, string> }) => {
      const r = await effects.read([...compose.argv, ...args, 'config', '--format', 'json'], opts);
      if (r.exitCode !== 0) throw new OperationError(`docker compose config failed on ${opts.cwd}: ${r.stderr.split('\n')[0]}`);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const original = await read([...composeFiles.flatMap((f) => ['-f', path.resolve(f)]), ...(envFile ? ['--env-file', path.resolve(envFile)] : [])], { cwd: path.dirname(path.resolve(composeFiles[0])) });
    const rendered = await read(['-p', stack.project, ...composePaths(files, dir).flatMap((f) => ['-f', f])], { cwd: dir, env: stack.vars });
    // a redis: block the import made from `redis-server --requirepass ...` starts the server its own way
    const redis = stack.redis?.password ? { service: stack.redis.service, conf: REDIS_CONF, envVar: REDIS_PASSWORD_ENV } : undefined;
    const diff = meaningDiff(original, rendered, redis);
    if (original.name !== stack.project) diff.unshift(`project: original ${JSON.stringify(original.name)}, rendered ${JSON.stringify(stack.project)}`);
    return diff;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
