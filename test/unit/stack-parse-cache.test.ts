// The stack parse cache `status` uses (config/parse-cache.ts, kept in the
// state folder by state/stack-cache.ts): a cached load gives the very stack an
// uncached one gives, a changed file or another build is parsed again, errors
// found after a cache hit still name file:line:col, a file whose other
// environments have an unknown key is never remembered as checked, and the
// cache file holds nothing the stack file does not (no env_file secret).
import { describe, it, expect } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStack, type LoadOptions } from '../../src/config/load.js';
import { jsonExact, type StackParseCache } from '../../src/config/parse-cache.js';
import { stateParseCache } from '../../src/state/stack-cache.js';
import { ConfigError } from '../../src/errors.js';
import { ROOT } from '../helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'lifeops-parse-cache-'));

/** A cache over the state folder that counts what it was asked and told. */
function counted(stateDir: string, build = 'build-1'): StackParseCache & { hits: number; misses: number; puts: number } {
  const inner = stateParseCache(stateDir, build);
  const c = {
    build,
    hits: 0,
    misses: 0,
    puts: 0,
    get(f: string, k: string) {
      const v = inner.get(f, k);
      if (v) c.hits++;
      else c.misses++;
      return v;
    },
    put(f: string, k: string, e: Parameters<StackParseCache['put']>[2]) {
      c.puts++;
      inner.put(f, k, e);
    },
  };
  return c;
}

function demoCopy(): { dir: string; file: string } {
  const dir = tmp();
  copyFileSync(path.join(ROOT, 'stacks/demo.yaml'), path.join(dir, 'demo.yaml'));
  copyFileSync(path.join(ROOT, 'stacks/demo.local.env'), path.join(dir, 'demo.local.env'));
  // relative paths of the demo (build context, migrations) point at the repository
  const text = readFileSync(path.join(dir, 'demo.yaml'), 'utf8').replaceAll('../demo/app', path.join(ROOT, 'demo/app'));
  writeFileSync(path.join(dir, 'demo.yaml'), text);
  return { dir, file: path.join(dir, 'demo.yaml') };
}

const errorOf = (opts: LoadOptions): string => {
  try {
    loadStack(opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
};

describe('stack parse cache', () => {
  it('gives the same stack from the cache as from a parse, for every environment of the demo', () => {
    const { dir, file } = demoCopy();
    const env = { POSTGRES_PASSWORD: 'pw-from-env-123456' };
    for (const e of ['local', 'monitored', 'production']) {
      const cache = counted(path.join(dir, '.state'));
      const plain = loadStack({ file, env: e, processEnv: env });
      const first = loadStack({ file, env: e, processEnv: env, parseCache: cache });
      const second = loadStack({ file, env: e, processEnv: env, parseCache: cache });
      expect(first).toEqual(plain);
      expect(second).toEqual(plain);
      expect(cache.hits).toBeGreaterThanOrEqual(1);
    }
  });

  it('parses again when the file changes or the build is another', () => {
    const { dir, file } = demoCopy();
    const state = path.join(dir, '.state');
    const cache = counted(state);
    loadStack({ file, processEnv: {}, parseCache: cache });
    expect([cache.hits, cache.misses, cache.puts]).toEqual([0, 1, 1]);
    loadStack({ file, processEnv: {}, parseCache: cache });
    expect([cache.hits, cache.misses, cache.puts]).toEqual([1, 1, 1]); // checked already: nothing to write
    writeFileSync(file, readFileSync(file, 'utf8').replace('description: lifeops demo stack', 'description: changed'));
    expect(loadStack({ file, processEnv: {}, parseCache: cache }).description).toBe('changed');
    expect([cache.hits, cache.misses]).toEqual([1, 2]);
    const other = counted(state, 'build-2');
    loadStack({ file, processEnv: {}, parseCache: other });
    expect([other.hits, other.misses]).toEqual([0, 1]);
    expect(readdirSync(path.join(state, 'cache'))).toHaveLength(1); // one entry per stack file, replaced
  });

  it('still names file:line:col for an error found after a cache hit', () => {
    const { dir, file } = demoCopy();
    // every reference may be empty, so the load goes past the parse (and the cache) and fails at variables.required
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll('${POSTGRES_PASSWORD}', '${POSTGRES_PASSWORD:-}'));
    writeFileSync(path.join(dir, 'demo.local.env'), '# no password here\n');
    const cache = counted(path.join(dir, '.state'));
    const plain = errorOf({ file, processEnv: {} });
    expect(plain).toMatch(/demo\.yaml:\d+:\d+: variables\.required: .*POSTGRES_PASSWORD/);
    expect(errorOf({ file, processEnv: {}, parseCache: cache })).toBe(plain);
    expect(errorOf({ file, processEnv: {}, parseCache: cache })).toBe(plain);
    expect(cache.hits).toBe(1);
  });

  it('never remembers other environments as checked when one of them has an unknown key', () => {
    const { dir, file } = demoCopy();
    writeFileSync(file, readFileSync(file, 'utf8').replace('  production:\n', '  production:\n    replicaz: 2\n'));
    const cache = counted(path.join(dir, '.state'));
    const first = errorOf({ file, processEnv: {}, parseCache: cache });
    expect(first).toMatch(/replicaz: unknown key \(environment production\)/);
    expect(errorOf({ file, processEnv: {}, parseCache: cache })).toBe(first);
    expect(cache.puts).toBe(0);
  });

  it('keeps no value of an env_file or the environment in the cache file', () => {
    const { dir, file } = demoCopy();
    const secret = 'S3cret-value-only-in-the-env-file';
    writeFileSync(path.join(dir, 'demo.local.env'), `POSTGRES_PASSWORD=${secret}\n`);
    const state = path.join(dir, '.state');
    const stack = loadStack({ file, processEnv: { OTHER_TOKEN: 'tok-from-the-environment' }, parseCache: counted(state) });
    expect(stack.postgres?.password).toBe(secret);
    const [entry] = readdirSync(path.join(state, 'cache'));
    const text = readFileSync(path.join(state, 'cache', entry), 'utf8');
    expect(text).toContain('${POSTGRES_PASSWORD}');
    expect(text).not.toContain(secret);
    expect(text).not.toContain('tok-from-the-environment');
  });

  it('caches only what JSON keeps exactly', () => {
    expect(jsonExact({ a: [1, 'x', true, null, { b: 2.5 }] })).toBe(true);
    expect(jsonExact({ a: Infinity })).toBe(false);
    expect(jsonExact({ a: Number.NaN })).toBe(false);
    expect(jsonExact({ a: -0 })).toBe(false);
    expect(jsonExact({ a: new Date(0) })).toBe(false);
    expect(jsonExact({ a: new Map() })).toBe(false);
    expect(jsonExact({ a: undefined })).toBe(false);
  });

  it('parses a file with .inf every time rather than cache it', () => {
    const dir = tmp();
    const file = path.join(dir, 's.yaml');
    writeFileSync(file, 'name: inf\ndefault_environment: local\nx-limit: .inf\nservices:\n  web: { role: web, image: "a/b:1" }\nenvironments:\n  local: {}\n');
    const cache = counted(path.join(dir, '.state'));
    loadStack({ file, processEnv: {}, parseCache: cache });
    loadStack({ file, processEnv: {}, parseCache: cache });
    expect([cache.hits, cache.puts]).toEqual([0, 0]);
  });
});
