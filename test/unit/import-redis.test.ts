// A compose Redis started with its password on the command line
// (`redis-server --requirepass ${REDIS_PASSWORD}`) is imported as lifeops'
// managed redis: block: the password comes from the env file and reaches the
// server through a file, never a process's argv; the block's settings carry
// what the command said. The rendered compose file is read back.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { importCompose } from '../../src/import/compose.js';
import { shellWords } from '../../src/util/shell-words.js';
import { meaningDiff } from '../../src/import/check.js';
import { loadStack } from '../../src/config/load.js';
import { parseEnvText } from '../../src/config/envfile.js';
import { renderAll } from '../../src/render/index.js';
import { REDIS_CONF, REDIS_PASSWORD_ENV } from '../../src/render/datastores.js';
import { ConfigError } from '../../src/errors.js';

type Json = Record<string, any>;

function importText(compose: string, env?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-import-redis-'));
  mkdirSync(path.join(dir, 'app'));
  mkdirSync(path.join(dir, 'ops'));
  const composeFile = path.join(dir, 'app', 'compose.yaml');
  const outFile = path.join(dir, 'ops', 'stack.yaml');
  const result = importCompose({ composeText: compose, composeFile, envText: env, envFile: env === undefined ? undefined : path.join(dir, 'app', '.env'), processEnv: {}, outFile, envFileName: 'stack.env' });
  writeFileSync(outFile, result.stack);
  writeFileSync(path.join(dir, 'ops', 'stack.env'), result.env);
  const stack = loadStack({ file: outFile, processEnv: {}, env: 'production' });
  const renderDir = path.join(dir, 'render');
  const composeOut = renderAll(stack, { renderDir }).find((f) => f.path === 'docker-compose.yml');
  return { result, doc: parse(result.stack) as Json, stack, rendered: parse(composeOut!.content) as Json };
}

describe('import: redis-server --requirepass becomes the redis: block', () => {
  it('a ${VAR} password: the block reads it, the command keeps only the flags the block does not own, no argv holds it', () => {
    const { doc, result, rendered } = importText(
      'services:\n  cache:\n    image: redis:7-alpine\n    command: redis-server --requirepass ${REDIS_PASSWORD} --appendonly yes --save 60 1000 --save "300 10" --maxmemory 256mb --maxmemory-policy allkeys-lru --port 6380\n',
      'REDIS_PASSWORD=import-redis-pw-0123\n',
    );
    expect(doc.redis).toEqual({ service: 'cache', password: '${REDIS_PASSWORD}', maxmemory: '256M', maxmemory_policy: 'allkeys-lru', appendonly: true, save: ['60 1000', '300 10'] });
    expect(doc.services.cache.command).toEqual(['redis-server', '--port', '6380']);
    expect(parseEnvText(result.env).REDIS_PASSWORD).toBe('import-redis-pw-0123');
    expect(result.secretVars).toContain('REDIS_PASSWORD');
    const svc = rendered.services.cache;
    // the server reads the rendered conf and the password file; argv and the compose file hold only the reference
    expect(svc.command.slice(-4)).toEqual(['redis-server', REDIS_CONF, '--port', '6380']);
    expect(svc.command.join(' ')).not.toContain('--requirepass');
    expect(svc.environment[REDIS_PASSWORD_ENV]).toBe('${REDIS_PASSWORD}');
    expect(JSON.stringify(rendered)).not.toContain('import-redis-pw-0123');
  });

  it('a literal password becomes a variable of the env file; no command left when the block owns every flag; --save "" keeps snapshots off', () => {
    const { doc, result } = importText('services:\n  queue:\n    image: redis:7\n    command: ["redis-server", "--requirepass", "l1teral-queue-pw", "--save", ""]\n');
    expect(doc.redis).toMatchObject({ service: 'queue', password: '${REDIS_PASSWORD}', save: [] });
    expect(doc.services.queue.command).toBeUndefined();
    expect(result.stack).not.toContain('l1teral-queue-pw');
    expect(parseEnvText(result.env).REDIS_PASSWORD).toBe('l1teral-queue-pw');
  });

  it("no --save: redis-server's own save points for the image's version (6.2 changed them)", () => {
    expect(importText('services:\n  r:\n    image: redis:6.0-alpine\n    command: redis-server --requirepass ${P:-x}\n').doc.redis.save).toEqual(['900 1', '300 10', '60 10000']);
    expect(importText('services:\n  r:\n    image: redis:7.2\n    command: redis-server --requirepass ${P:-x}\n').doc.redis).toMatchObject({ password: '${P:-x}', save: ['3600 1', '300 100', '60 10000'] });
  });

  it('a second Redis with --requirepass is refused at its command: the block manages one', () => {
    let err: unknown;
    try {
      importText('services:\n  cache:\n    image: redis:7\n    command: redis-server --requirepass ${A}\n  queue:\n    image: redis:7\n    command: redis-server --requirepass ${B}\n', 'A=aaaaaaaa\nB=bbbbbbbb\n');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/compose\.yaml:\d+:\d+: services\.queue\.command: a second Redis with --requirepass: lifeops manages the password of one Redis per stack \(redis:, given to cache\)/);
    expect((err as ConfigError).message).not.toMatch(/aaaaaaaa|bbbbbbbb/);
  });

  it('a Redis without --requirepass is left as it is', () => {
    const { doc } = importText('services:\n  cache:\n    image: redis:7\n    command: redis-server --appendonly yes\n');
    expect(doc.redis).toBeUndefined();
    expect(doc.services.cache.command).toBe('redis-server --appendonly yes');
  });

  it('shellWords splits a command as compose does (quotes, escapes, empty words)', () => {
    expect(shellWords(`redis-server --save "" --requirepass 'a b' --x "q\\"z" c\\ d`)).toEqual(['redis-server', '--save', '', '--requirepass', 'a b', '--x', 'q"z', 'c d']);
  });

  it('--check compares the managed service on the flags the block does not own, and still sees a changed one', () => {
    const redis = { service: 'cache', conf: REDIS_CONF, envVar: REDIS_PASSWORD_ENV };
    const original = { name: 'p', services: { cache: { image: 'redis:7', command: ['redis-server', '--requirepass', 'x', '--appendonly', 'yes', '--port', '6380'], environment: { [REDIS_PASSWORD_ENV]: 'x' } } } };
    const rendered = (port: string) => ({ name: 'p', services: { cache: { image: 'redis:7', command: ['sh', '-c', 'script', 'redis-start', 'redis-server', REDIS_CONF, '--port', port], environment: { [REDIS_PASSWORD_ENV]: 'x' }, volumes: [{ type: 'bind', source: '/r/redis/redis.conf', target: REDIS_CONF, read_only: true }] } } });
    expect(meaningDiff(original, rendered('6380'), redis)).toEqual([]);
    expect(meaningDiff(original, rendered('6381'), redis)).toEqual(['services.cache.command: original ["redis-server","--port","6380"], rendered ["redis-server","--port","6381"]']);
  });
});
