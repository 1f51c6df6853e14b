// Issue 16: the redactor learns every secret the stack resolves, not only the
// process environment's: the environment's env_file, each service's own
// env_file (compose reads those; lifeops never needed them before), secret-named
// keys written literally in a service's environment, and the values the stack
// marks secret by position (datastore passwords, webhook URLs, routing keys).
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadStack } from '../../src/config/load.js';
import { redactorFor } from '../../src/flows/context.js';
import { MASK } from '../../src/util/redact.js';

function stackIn(files: Record<string, string>) {
  const dir = mkdtempSync(path.join(tmpdir(), 'gaps-redact-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return loadStack({ file: path.join(dir, 'stack.yaml'), env: 'local', processEnv: {} });
}

const STACK = `name: gpredact
services:
  db: { role: postgres, image: postgres:15 }
  cache: { role: redis, image: redis:7 }
  web:
    image: lifeops/placeholder:local
    env_file: [app.env]
    environment: { API_TOKEN: literal-token-in-stack-4711, MODE: production-mode }
postgres: { service: db, user: app, password: literal-pg-password-99, database: app }
redis: { service: cache, password: "\${REDIS_PASSWORD}" }
deploy:
  notifications: [{ type: webhook, url: "https://hooks.example.com/T0/secret-path-abc" }]
environments:
  local: { env_file: local.env }
`;

describe('redactorFor learns the stack\'s secrets', () => {
  const stack = stackIn({
    'stack.yaml': STACK,
    'app.env': 'STRIPE_API_KEY=sk_live_service_envfile_secret_1234\nPLAIN_SETTING=visible-value\nSMTP_PASSWORD=p@ss word/with:chars\n',
    'local.env': 'DB_PASSWORD=env-envfile-secret-5678\nREDIS_PASSWORD=redis-envfile-secret-42\n',
  });
  const r = redactorFor(stack);

  it("masks a service env_file's secret-named values (and their URL-encoded form), not its other values", () => {
    expect(r.text('key sk_live_service_envfile_secret_1234 here')).toBe(`key ${MASK} here`);
    expect(r.text('smtp p@ss word/with:chars')).toBe(`smtp ${MASK}`);
    expect(r.text(`url ${encodeURIComponent('p@ss word/with:chars')}`)).toBe(`url ${MASK}`);
    expect(r.text('PLAIN_SETTING=visible-value')).toBe('PLAIN_SETTING=visible-value');
  });

  it("masks the environment's env_file secrets and the values resolved from them", () => {
    expect(r.text('env-envfile-secret-5678 redis-envfile-secret-42')).toBe(`${MASK} ${MASK}`);
  });

  it('masks secrets written literally in the stack: a service environment key, a datastore password, a webhook URL', () => {
    expect(r.text('echo literal-token-in-stack-4711')).toBe(`echo ${MASK}`);
    expect(r.text('password literal-pg-password-99')).toBe(`password ${MASK}`);
    expect(r.text('POST https://hooks.example.com/T0/secret-path-abc failed')).toBe(`POST ${MASK} failed`);
    expect(r.text('MODE=production-mode')).toBe('MODE=production-mode');
  });
});
