// A gunicorn service's container is given at least graceful_timeout plus a
// margin to stop: otherwise Docker kills it while gunicorn still lets its
// workers finish their requests (the demo's web: graceful_timeout 20 s, and
// Docker's default of 10 s before this rule).
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { renderedStopGrace, stopGraceSeconds } from '../../src/config/grace.js';
import { planRoll } from '../../src/plan/deploy.js';
import { ROOT } from '../helpers.js';

const gunicorn = (graceful_timeout: number) => ({ graceful_timeout }) as never;

describe('stop grace period', () => {
  it('is graceful_timeout + 5 s for a gunicorn service that declares less (or nothing)', () => {
    expect(stopGraceSeconds({ gunicorn: gunicorn(20) })).toBe(25);
    expect(renderedStopGrace({ gunicorn: gunicorn(20) })).toBe('25s');
    expect(renderedStopGrace({ gunicorn: gunicorn(30), stop_grace_period: '10s' })).toBe('35s');
  });
  it('keeps a declared period that is long enough, and Docker\'s default for other services', () => {
    expect(renderedStopGrace({ gunicorn: gunicorn(30), stop_grace_period: '35s' })).toBe('35s');
    expect(renderedStopGrace({ gunicorn: gunicorn(30), stop_grace_period: '1m' })).toBe('1m');
    expect(renderedStopGrace({})).toBeUndefined();
    expect(renderedStopGrace({ stop_grace_period: '3s' })).toBe('3s');
  });
  it('the demo: web renders 25s and its roll stops the old container with -t 25', () => {
    const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-grace-test' } });
    const compose = parse(renderAll(stack, { renderDir: '/tmp/lifeops-grace' }).find((f) => f.path === 'docker-compose.yml')!.content);
    expect(compose.services.web.stop_grace_period).toBe('25s');
    expect(compose.services.worker.stop_grace_period).toBe('10s');
    const roll = planRoll(stack, { kind: 'v2', argv: ['docker', 'compose'], version: '2.26.1' }, { project: 'demo-local', files: ['/x.yml'] }, 'web', [{ id: 'old', name: 'demo-local-web-1', service: 'web', state: 'running', health: 'healthy', imageId: 'x', labels: {} }]);
    expect(roll.retire[0].stop).toEqual(['docker', 'stop', '-t', '25', 'old']);
  });
});
