// `render --out` never overwrites what lifeops did not write, and a stack
// file too large to be real is refused at once instead of parsed for minutes.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, openSync, ftruncateSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lifeops, ROOT } from '../helpers.js';

const demo = path.join(ROOT, 'stacks', 'demo.yaml');
const env = { POSTGRES_PASSWORD: 'pw-for-the-output-test' };

describe('render --out', () => {
  it('refuses an empty path (it would write into the current folder)', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'lifeops-out-'));
    writeFileSync(path.join(cwd, 'Makefile'), 'mine\n');
    const r = await lifeops(['-f', demo, 'render', '--env', 'local', '--out', ''], { env, cwd });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--out is empty/);
    expect(readFileSync(path.join(cwd, 'Makefile'), 'utf8')).toBe('mine\n');
  });

  it('refuses /proc, /sys and /dev', async () => {
    const r = await lifeops(['-f', demo, 'render', '--env', 'local', '--out', '/proc/self/lifeops'], { env });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/not a place for rendered files/);
  });

  it('refuses a folder holding files it did not write, unless --force; its own output it rewrites', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-out-'));
    writeFileSync(path.join(dir, 'docker-compose.yml'), 'services: {}\n');
    const refused = await lifeops(['-f', demo, 'render', '--env', 'local', '--out', dir], { env });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/holds files lifeops did not write \(docker-compose\.yml\)/);
    expect(readFileSync(path.join(dir, 'docker-compose.yml'), 'utf8')).toBe('services: {}\n');
    const forced = await lifeops(['-f', demo, 'render', '--env', 'local', '--out', dir, '--force'], { env });
    expect(forced.exitCode, forced.stderr).toBe(0);
    const again = await lifeops(['-f', demo, 'render', '--env', 'local', '--out', dir], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    const fresh = path.join(dir, 'new-sub');
    expect((await lifeops(['-f', demo, 'render', '--env', 'local', '--out', fresh], { env })).exitCode).toBe(0);
    expect(existsSync(path.join(fresh, 'docker-compose.yml'))).toBe(true);
  });
});

describe('stack file size', () => {
  it('a 20 MB stack file is refused by the stated limit, naming the file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-big-'));
    const file = path.join(dir, 'big.yaml');
    writeFileSync(file, readFileSync(demo, 'utf8'));
    const fd = openSync(file, 'r+');
    ftruncateSync(fd, 20 * 1024 * 1024);
    closeSync(fd);
    const r = await lifeops(['-f', file, 'render', '--env', 'local'], { env });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${file}: 20971520 bytes is larger than the 1 MiB a stack file may be`);
  });
});
