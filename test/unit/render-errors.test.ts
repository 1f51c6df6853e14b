// Renderer errors about the stack file: each is a ConfigError (exit 2, the
// CLI's "stack file error") whose message names the key path and what would
// be valid; through renderAll it also names file:line:col, like the loader's
// schema errors. Pure: stacks are written to a temp folder and loaded with the
// real loader, nothing is deployed.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lifeops, ROOT } from '../helpers.js';
import { loadStack } from '../../src/config/load.js';
import type { Stack } from '../../src/config/schema.js';
import { ConfigError, LifeopsError } from '../../src/errors.js';
import { renderAll } from '../../src/render/index.js';
import { renderNginx } from '../../src/render/nginx.js';
import { renderTraefik } from '../../src/render/traefik.js';
import { pgValue } from '../../src/render/datastores.js';
import { FULL_STACK, ENV, writeStack } from '../fixtures/app-stack.js';

const renderDir = '/tmp/lifeops-render-errors';

/** The error `fn` throws (fails the test when it throws nothing). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, nothing was thrown');
}

/** The error renderAll throws for a stack, asserted to be a located-or-not ConfigError with exit code 2. */
function renderError(stack: Stack): ConfigError {
  const e = thrown(() => renderAll(stack, { renderDir }));
  expect(e).toBeInstanceOf(ConfigError);
  expect(e).toBeInstanceOf(LifeopsError);
  expect((e as ConfigError).exitCode).toBe(2);
  return e as ConfigError;
}

/** 1-based line:col of the first occurrence of `needle` in `text`. */
function position(text: string, needle: string, nth = 1): string {
  let at = -1;
  for (let i = 0; i < nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

describe('renderer errors are ConfigErrors naming the key', () => {
  it('a domain listed twice: front.domains.N.name, with file:line:col of the second one', () => {
    const text = FULL_STACK.replace('- { name: api.shop.example.com,', '- { name: shop.example.com,');
    const file = writeStack(text);
    const stack = loadStack({ file, processEnv: ENV });
    const e = renderError(stack);
    expect(e.keyPath).toEqual(['front', 'domains', 1, 'name']);
    expect(e.message).toBe(
      `${file}:${position(text, 'shop.example.com', 3)}: front.domains.1.name: shop.example.com is listed twice (also front.domains.0.name); valid: a name no other domain has (add a second name to aliases)`,
    );
    // called directly (no YAML source at hand) the renderer's error has the key path only
    const direct = thrown(() => renderNginx(stack)) as ConfigError;
    expect(direct).toBeInstanceOf(ConfigError);
    expect(direct.exitCode).toBe(2);
    expect(direct.message).toMatch(/^front\.domains\.1\.name: shop\.example\.com is listed twice/);
  });

  it('traefik with TLS and no e-mail: front.tls.letsencrypt_email, and what is valid', () => {
    const text = FULL_STACK.replace('kind: nginx', 'kind: traefik').replace('letsencrypt_email: ops@shop.example, ', '');
    const file = writeStack(text);
    const stack = loadStack({ file, processEnv: ENV });
    const e = renderError(stack);
    expect(e.keyPath).toEqual(['front', 'tls', 'letsencrypt_email']);
    // the key is absent: the location is its parent, front.tls
    expect(e.message).toBe(
      `${file}:${position(text, '{ enabled: true')}: front.tls.letsencrypt_email: Let's Encrypt needs a valid e-mail address when TLS is on (found nothing); valid: an e-mail address such as "ops@example.com"`,
    );
    expect(e.hint).toMatch(/letsencrypt_email/);
    expect(thrown(() => renderTraefik(stack))).toBeInstanceOf(ConfigError);
  });

  it('a postgres tuning value with a newline: postgres.tuning.KEY, located in the environment overlay that sets it', () => {
    const text =
      FULL_STACK +
      'environments:\n  staging:\n    postgres:\n      tuning: { application_name: "two\\nlines" }\n';
    const file = writeStack(text);
    const stack = loadStack({ file, processEnv: ENV });
    const e = renderError(stack);
    expect(e.keyPath).toEqual(['postgres', 'tuning', 'application_name']);
    expect(e.message).toBe(
      `${file}:${position(text, '"two')}: postgres.tuning.application_name: a value cannot contain a newline (or NUL); valid: a single-line string`,
    );
    const direct = thrown(() => pgValue('work_mem', 'a\nb')) as ConfigError;
    expect(direct).toBeInstanceOf(ConfigError);
    expect(direct.message).toBe('postgres.tuning.work_mem: a value cannot contain a newline (or NUL); valid: a single-line string');
  });

  it('a domain routed to a monitoring service without upstream_port: front.domains.N.upstream', () => {
    const text =
      FULL_STACK.replace('- { name: api.shop.example.com, upstream: api }', '- { name: api.shop.example.com, upstream: alertmanager }') +
      'monitoring: { enabled: true, grafana: false }\n'; // the stack runs its own grafana: the override's would replace it
    const file = writeStack(text);
    const stack = loadStack({ file, processEnv: ENV }); // the loader allows it: alertmanager is a monitoring service
    const e = renderError(stack);
    expect(e.keyPath).toEqual(['front', 'domains', 1, 'upstream']);
    expect(e.message).toContain(`${file}:${position(text, 'alertmanager')}: front.domains.1.upstream: api.shop.example.com proxies to "alertmanager"`);
    expect(e.message).toContain('valid: one of db, cache, bouncer, web, api, grafana, front, or set front.domains.1.upstream_port');
  });

  it("a stack's template override that cannot be read: templates.<path>", () => {
    const text = FULL_STACK + 'templates:\n  logging.conf: nope.tmpl\n';
    const file = writeStack(text);
    const e = renderError(loadStack({ file, processEnv: ENV }));
    expect(e.keyPath).toEqual(['templates', 'logging.conf']);
    expect(e.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${position(text, 'nope.tmpl')}: templates\\.logging\\.conf: nope\\.tmpl: cannot read template for logging\\.conf \\(ENOENT\\); valid: a readable file`));
  });

  it("a stack's template override with an unknown placeholder: templates.<path>, listing the valid ones", () => {
    const text = FULL_STACK + 'templates:\n  redis/redis.conf: ops/redis.tmpl\n';
    const file = writeStack(text, { 'ops/redis.tmpl': '{{header}}\nmaxmemory-policy {{policy}}\n' });
    const e = renderError(loadStack({ file, processEnv: ENV }));
    expect(e.keyPath).toEqual(['templates', 'redis/redis.conf']);
    expect(e.message).toBe(
      `${file}:${position(text, 'ops/redis.tmpl')}: templates.redis/redis.conf: ops/redis.tmpl: no value for {{policy}}; valid placeholders: header, maxmemory, maxmemory_policy, appendonly, save`,
    );
  });

  it('a built-in template problem is not the stack file\'s fault: it stays a plain Error (exit 1)', async () => {
    const { fill } = await import('../../src/render/templates.js');
    const e = thrown(() => fill('{{nope}}', {}, 'templates/x.conf'));
    expect(e).not.toBeInstanceOf(LifeopsError);
  });
});

describe('ConfigError with a key path', () => {
  it('at() starts the message with the dotted key path; withSource() adds file:line:col once', () => {
    const e = ConfigError.at(['services', 'web', 'gunicorn', 'worker_class'], 'found "x"; valid values: "sync", "gthread"', 'see `lifeops schema`');
    expect(e.message).toBe('services.web.gunicorn.worker_class: found "x"; valid values: "sync", "gthread"');
    expect(e.exitCode).toBe(2);
    const located = e.withSource('stack.yaml:12:22');
    expect(located.message).toBe('stack.yaml:12:22: services.web.gunicorn.worker_class: found "x"; valid values: "sync", "gthread"');
    expect(located.keyPath).toEqual(e.keyPath);
    expect(located.hint).toBe(e.hint);
    expect(located.withSource('other.yaml:1:1')).toBe(located);
  });
});

describe('render --env NAME', () => {
  it('a stack with no environment NAME: exit 2 naming the environments it has, nothing rendered, no stack trace', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-render-env-'));
    const r = await lifeops(['-f', path.join(ROOT, 'stacks', 'demo.yaml'), '--state-dir', dir, 'render', '--env', 'staging']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/demo\.yaml:\d+:\d+: environments: no environment "staging"; declared: local, local-tls, monitored, production, swarm, remote/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(dir)).toEqual([]);
  });
});
