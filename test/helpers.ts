// Shared test helpers: run the real CLI, and make throwaway copies of the demo
// stack (own project name, port and state dir) so test files never collide.
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'bin', 'lifeops.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function lifeops(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const r = await execa('node', [BIN, ...args], {
    reject: false,
    cwd: opts.cwd ?? ROOT,
    env: { CI: '1', ...opts.env },
    timeout: opts.timeoutMs ?? 300_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * A copy of stacks/demo.yaml under <repo>/.tmp-tests/<name>/ (same depth as
 * stacks/, so its relative paths to demo/ still resolve), with its own name
 * and published port. Returns the stack path and a state dir.
 */
export function demoCopy(name: string, port: number, edit: (text: string) => string = (t) => t): { file: string; stateDir: string; dir: string } {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, `${name}-`));
  const text = readFileSync(path.join(ROOT, 'stacks', 'demo.yaml'), 'utf8')
    .replace(/^name: demo$/m, `name: ${name}`)
    .replace(/DEMO_HTTP_PORT: "8080"/, `DEMO_HTTP_PORT: "${port}"`)
    .replaceAll('../demo/', '../../demo/');
  const file = path.join(dir, 'stack.yaml');
  writeFileSync(file, edit(text));
  copyFileSync(path.join(ROOT, 'stacks', 'demo.local.env'), path.join(dir, 'demo.local.env'));
  return { file, stateDir: path.join(dir, 'state'), dir };
}
