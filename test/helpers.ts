// Shared test helpers: run the real CLI, and make throwaway copies of the demo
// stack (own project name, port and state dir) so test files never collide.
import { execa } from 'execa';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, mkdtempSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
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

/** The parsed demo stack, as a test edits it. */
export type StackDoc = Record<string, any>;

/** The value at a dotted key path of a parsed stack; throws when it is absent, so an edit never silently misses. */
export function at(doc: StackDoc, keyPath: string): any {
  let cur: unknown = doc;
  for (const k of keyPath.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(k in (cur as object))) throw new Error(`test stack edit: no key ${keyPath} (missing at "${k}")`);
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * A copy of stacks/demo.yaml under <repo>/.tmp-tests/<name>/ with its own
 * name and published port. `edit` changes the parsed stack (not its text: a
 * text replace that no longer matches would silently test the wrong stack);
 * an edit that changes nothing fails. Returns the stack path and a state dir.
 */
export function demoCopy(name: string, port: number, edit?: (doc: StackDoc) => void): { file: string; stateDir: string; dir: string } {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, `${name}-`));
  const doc = parse(readFileSync(path.join(ROOT, 'stacks', 'demo.yaml'), 'utf8')) as StackDoc;
  doc.name = name;
  at(doc, 'variables.defaults').DEMO_HTTP_PORT = String(port);
  // the demo's local environment copies every backup off-site (to the test bed's
  // off-site host): a copy leaves that out, so each test's backups stay its own
  // business; a test of off-site copies sets backup.offsite itself
  delete at(doc, 'environments.local').backup;
  // the copy sits one folder deeper than stacks/
  at(doc, 'services.web.build').context = '../../demo/app';
  at(doc, 'migrations').path = '../../demo/app/migrations';
  if (edit) {
    const before = JSON.stringify(doc);
    edit(doc);
    if (JSON.stringify(doc) === before) throw new Error(`test stack ${name}: the edit changed nothing`);
  }
  const file = path.join(dir, 'stack.yaml');
  writeFileSync(file, stringify(doc));
  copyFileSync(path.join(ROOT, 'stacks', 'demo.local.env'), path.join(dir, 'demo.local.env'));
  return { file, stateDir: path.join(dir, 'state'), dir };
}

/**
 * A bounded load loop through a front published on 127.0.0.1: at most `max`
 * requests to /, 100 ms apart, each with a 5 s deadline, until `done()` says
 * stop. Counts the answers that were not 2xx (or never came) as failed.
 */
export async function loadThroughFront(port: number, done: () => boolean, max = 400): Promise<{ ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < max && !done(); i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
      await r.text();
      if (r.ok) ok++;
      else failed++;
    } catch {
      failed++;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ok, failed };
}

/** Change a stack file written by demoCopy, by its parsed YAML; an edit that changes nothing fails. */
export function editStack(file: string, edit: (doc: StackDoc) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as StackDoc;
  const before = JSON.stringify(doc);
  edit(doc);
  if (JSON.stringify(doc) === before) throw new Error(`test stack ${file}: the edit changed nothing`);
  writeFileSync(file, stringify(doc));
}

/** Reach into a deployed demo copy's containers: first container of a service, psql, redis-cli. */
export function demoProject(project: string) {
  const container = async (svc: string, proj = project) =>
    (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${proj}`, '--filter', `label=com.docker.compose.service=${svc}`])).stdout.trim().split('\n')[0];
  const sql = async (q: string) => (await execa('docker', ['exec', await container('db'), 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'demo', '-d', 'demo', '-c', q])).stdout.trim();
  const redis = async (...a: string[]) => (await execa('docker', ['exec', await container('cache'), 'redis-cli', ...a])).stdout.trim();
  /** row count and md5 of the `items` table that seedDemo fills */
  const tableHash = () => sql("SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || v, ',' ORDER BY id)), '') FROM items");
  /** from no data: deploy, 2000 rows in `items`, key k1 in Redis */
  const seed = async (cli: (args: string[]) => Promise<CliResult>) => {
    await cli(['down', '--volumes', '--yes', '--skip-backup']); // a fixed project name: start from no data (an earlier run's is not worth a backup)
    const d = await cli(['deploy', 'local']);
    if (d.exitCode !== 0) throw new Error(`deploy of ${project} failed:\n${d.stderr}`);
    await sql('CREATE TABLE items(id int PRIMARY KEY, v text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
    await redis('SET', 'k1', 'one');
  };
  return { container, sql, redis, tableHash, seed };
}

/** Every value a run log recorded under `key` in an info event's detail, oldest run first. */
export function runLogValues(stateDir: string, key: string): unknown[] {
  const dir = path.join(stateDir, 'logs');
  return readdirSync(dir)
    .sort()
    .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.includes(`"${key}"`))
    .map((l) => (JSON.parse(l) as { detail?: Record<string, unknown> }).detail?.[key])
    .filter((v) => v !== undefined);
}

/** `ps -eo args` every 50 ms while `during` runs (at most 2,400 samples): every distinct command line seen. */
export async function psWhile<T>(during: Promise<T>): Promise<{ result: T; lines: Set<string> }> {
  const lines = new Set<string>();
  let done = false;
  const watched = during.finally(() => (done = true));
  for (let i = 0; i < 2400 && !done; i++) {
    for (const l of (await execa('ps', ['-eo', 'args'])).stdout.split('\n')) lines.add(l);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { result: await watched, lines };
}
