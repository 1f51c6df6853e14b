// The layer rules, checked by tools rather than by memory: dependency-cruiser
// over src/ with .dependency-cruiser.cjs (cycles, pure layers, who may spawn or
// connect), and a scan for the process globals only the CLI may touch.
import { describe, it, expect } from 'vitest';
import { execa } from 'execa';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('layers', () => {
  it('dependency-cruiser finds no cycle and no forbidden import', async () => {
    const r = await execa('node_modules/.bin/depcruise', ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: ROOT, reject: false });
    expect(r.exitCode, String(r.stdout)).toBe(0);
    expect(String(r.stdout)).toMatch(/no dependency violations found \((\d+) modules/);
  });

  it('only src/cli reads stdin, prints, exits; only src/cli and src/clients read process.env; nobody outside clients calls fetch', () => {
    const bad: string[] = [];
    for (const file of sources(path.join(ROOT, 'src'))) {
      const rel = path.relative(ROOT, file);
      const code = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)); // comments may name them
      const inCli = rel.startsWith('src/cli/');
      const inClients = rel.startsWith('src/clients/');
      code.forEach((l, i) => {
        if (!inCli && /process\.(stdin|stdout|stderr|exit|exitCode)\b|console\./.test(l)) bad.push(`${rel}:${i + 1}: ${l.trim()}`);
        if (!inCli && !inClients && /process\.env\b/.test(l)) bad.push(`${rel}:${i + 1}: ${l.trim()}`);
        if (!inClients && /\bfetch\(/.test(l)) bad.push(`${rel}:${i + 1}: ${l.trim()}`);
      });
    }
    expect(bad).toEqual([]);
  });

  it('a reader that goes away early (| head -1) ends the CLI quietly, no EPIPE stack trace', async () => {
    const r = await execa('sh', ['-c', `node ${path.join(ROOT, 'bin/lifeops.js')} schema | head -c 10 >/dev/null`], { cwd: ROOT, reject: false, env: { DOCKER_HOST: 'unix:///nonexistent' } });
    expect(r.exitCode).toBe(0);
    expect(String(r.stderr)).not.toMatch(/EPIPE|Error|at /);
  });
});
