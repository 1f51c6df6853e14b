// Hand-written stack files (issue 23): an environment overlay naming a
// service the base lacks is a typo reported at the overlay's line with the
// name meant; a volume whose container path is relative is refused at
// validate (compose would refuse it only at `up`), at its file:line:key.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { loadStack } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { ROOT } from '../helpers.js';

function stackFile(text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-overlay-'));
  const file = path.join(dir, 'stack.yaml');
  writeFileSync(file, text);
  return file;
}

function loadError(file: string, env: string): ConfigError {
  try {
    loadStack({ file, processEnv: {}, env });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('loaded without an error');
}

const BASE = 'version: 1\nname: shop\nservices:\n  web:\n    image: app:1\n  worker:\n    image: app:1\n';

describe('environment overlays', () => {
  it('a partial service the base lacks: at the overlay line, with did-you-mean', () => {
    const file = stackFile(`${BASE}environments:\n  staging:\n    services:\n      wbe:\n        replicas: 2\n`);
    const e = loadError(file, 'staging');
    expect(e.message).toBe(`${file}:11:7: environments.staging.services.wbe: the base has no service "wbe" (did you mean "web"?); services: web, worker`);
    expect(e.exitCode).toBe(2);
    // also when another environment is chosen: the file has the typo whatever is deployed
    const both = stackFile(`${BASE}environments:\n  production: {}\n  staging:\n    services:\n      wbe:\n        replicas: 2\n`);
    expect(loadError(both, 'production').message).toContain('environments.staging.services.wbe: the base has no service "wbe"');
  });

  it('a whole new service with its image is an addition, and loads', () => {
    const file = stackFile(`${BASE}environments:\n  staging:\n    services:\n      mailcatcher:\n        image: mailpit:1\n      web:\n        replicas: 2\n`);
    const stack = loadStack({ file, processEnv: {}, env: 'staging' });
    expect(Object.keys(stack.services).sort()).toEqual(['mailcatcher', 'web', 'worker']);
    expect(stack.services.web.replicas).toBe(2);
  });
});

describe('volumes', () => {
  it('a relative container path is refused at validate with file:line:key (exit 2)', async () => {
    const file = stackFile('version: 1\nname: shop\nservices:\n  web:\n    image: app:1\n    volumes:\n      - ./data:/srv/data\n      - ./uploads:uploads\n');
    const e = loadError(file, 'production');
    expect(e.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:8:9: services\\.web\\.volumes\\.1: .*container path is absolute`));
    const r = await execa('node', [path.join(ROOT, 'bin', 'lifeops.js'), '-f', file, 'validate', '--env', 'production'], { reject: false, all: true, env: { PATH: process.env.PATH ?? '' }, extendEnv: false });
    expect(r.exitCode).toBe(2);
    expect(String(r.all)).toContain('services.web.volumes.1');
    // named volumes, binds and anonymous volumes with absolute container paths load
    const ok = stackFile('version: 1\nname: shop\nservices:\n  web:\n    image: app:1\n    volumes:\n      - pgdata:/var/lib/postgresql/data:ro\n      - .:/srv/app\n      - /cache\n');
    expect(loadStack({ file: ok, processEnv: {}, env: 'production' }).services.web.volumes).toHaveLength(3);
  });
});
