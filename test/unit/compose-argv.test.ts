// Golden exact-argv tests of the pure compose/docker builders, v1 and v2.
import { describe, it, expect } from 'vitest';
import { composeUp, composeScale, composeRun, composeStop, composeDown, composeConfigHash, composeUpNoDeps, dockerStop, dockerRm, shellQuote, type ComposeCli } from '../../src/commands/compose.js';

const v1: ComposeCli = { kind: 'v1', argv: ['docker-compose'], version: '1.29.2' };
const v2: ComposeCli = { kind: 'v2', argv: ['docker', 'compose'], version: '2.27.0' };
const t = { project: 'demo-local', files: ['/s/render/local/docker-compose.yml'] };
const b1 = ['docker-compose', '--compatibility', '-p', 'demo-local', '-f', '/s/render/local/docker-compose.yml'];
const b2 = ['docker', 'compose', '-p', 'demo-local', '-f', '/s/render/local/docker-compose.yml'];

// v2 hashes depends_on and `--no-deps` strips it before hashing: only v1 gets --no-deps (see noDeps)
describe.each([
  ['v1', v1, b1, ['--no-deps']],
  ['v2', v2, b2, []],
] as const)('compose %s', (_n, cli, base, noDeps) => {
  it('up', () => expect(composeUp(cli, t)).toEqual([...base, 'up', '-d', '--remove-orphans']));
  it('up of named services, dependencies left alone', () => expect(composeUpNoDeps(cli, t, ['db', 'cache'])).toEqual([...base, 'up', '-d', ...noDeps, 'db', 'cache']));
  it('scale', () => expect(composeScale(cli, t, 'web', 2)).toEqual([...base, 'up', '-d', ...noDeps, '--no-recreate', '--scale', 'web=2', 'web']));
  it('run', () => expect(composeRun(cli, t, 'web', ['python3', 'migrate.py'])).toEqual([...base, 'run', '--rm', '--no-deps', '-T', 'web', 'python3', 'migrate.py']));
  it('stop', () => expect(composeStop(cli, t, ['web', 'worker'], 20)).toEqual([...base, 'stop', '-t', '20', 'web', 'worker']));
  it('down', () => expect(composeDown(cli, t, true)).toEqual([...base, 'down', '--remove-orphans', '--volumes']));
  it('config hash', () => expect(composeConfigHash(cli, t)).toEqual([...base, 'config', '--hash=*']));
  it('config hash of a scratch copy, paths resolved in the render folder', () =>
    expect(composeConfigHash(cli, { ...t, projectDir: '/s/render/local' })).toEqual([...base.slice(0, base.indexOf('-f')), '--project-directory', '/s/render/local', '-f', '/s/render/local/docker-compose.yml', 'config', '--hash=*']));
});

describe('docker', () => {
  it('stop and rm', () => {
    expect(dockerStop('abc', 10)).toEqual(['docker', 'stop', '-t', '10', 'abc']);
    expect(dockerRm('abc')).toEqual(['docker', 'rm', 'abc']);
  });
  it('quotes for display', () => expect(shellQuote(['config', '--hash=*', "it's"])).toBe(`config '--hash=*' 'it'\\''s'`));
});
