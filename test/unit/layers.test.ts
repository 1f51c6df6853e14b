// The layer rules, checked by tools rather than by memory: dependency-cruiser
// over src/ with .dependency-cruiser.cjs (cycles, one direction between layers,
// who may spawn or connect, re-exports, render writing nothing), and a scan of
// the sources for what it cannot see (test/layer-scan.ts: process globals,
// signals, re-exported imports, render's fs imports, files over 400 lines).
// Each rule is shown to bite: one violation of each is planted in a copy of
// src/ and the tools must reject every one, by the rule that forbids it.
import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { LONG_FILE_EXEMPT, MAX_LINES, sourceProblems } from '../layer-scan.js';

const DEPCRUISE = path.join(ROOT, 'node_modules/.bin/depcruise');

interface Violation {
  rule: string;
  from: string;
  to: string;
}

/**
 * dependency-cruiser's verdict on `roots` (files or folders) in the checkout
 * `cwd`, in the form `make test` prints: its exit code (the number of errors)
 * and each "error RULE: FROM → TO" line (a cycle's TO is on the next line).
 */
async function cruise(cwd: string, roots: string[]): Promise<{ exitCode: number; output: string; violations: Violation[] }> {
  const r = await execa(DEPCRUISE, [...roots, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd, reject: false });
  const output = String(r.stdout);
  const violations = [...output.matchAll(/^\s*error ([\w-]+): (\S+) →\s*(\S+)/gm)].map((m) => ({ rule: m[1], from: m[2], to: m[3] }));
  return { exitCode: r.exitCode ?? -1, output, violations };
}

describe('layers', () => {
  it('dependency-cruiser finds no cycle and no forbidden import', async () => {
    const r = await cruise(ROOT, ['src']);
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toMatch(/no dependency violations found \((\d+) modules/);
  });

  it('only src/cli prints or exits; only cli and clients read process.env; only clients fetch or signal other processes; no cross-layer re-export; render writes nothing; no file over 400 lines', () => {
    expect(sourceProblems(ROOT)).toEqual([]);
  });

  it('each exemption from the 400-line limit is a file still over it (once it is split, drop it from LONG_FILE_EXEMPT)', () => {
    for (const f of LONG_FILE_EXEMPT) {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      expect(text.split('\n').length - 1, f).toBeGreaterThan(MAX_LINES);
    }
  });

  it('every file the rules\' comments name exists', () => {
    const config = readFileSync(path.join(ROOT, '.dependency-cruiser.cjs'), 'utf8');
    const named = [...config.matchAll(/\b((?:[\w.-]+\/)+[\w.-]+\.(?:ts|sh|mjs|cjs|json))\b/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(0);
    const missing = named.filter((f) => !existsSync(path.join(ROOT, f)) && !existsSync(path.join(ROOT, 'src', f)));
    expect(missing).toEqual([]);
  });

  it('a reader that goes away early (| head -1) ends the CLI quietly, no EPIPE stack trace', async () => {
    const r = await execa('sh', ['-c', `node ${path.join(ROOT, 'bin/lifeops.js')} schema | head -c 10 >/dev/null`], { cwd: ROOT, reject: false, env: { DOCKER_HOST: 'unix:///nonexistent' } });
    expect(r.exitCode).toBe(0);
    expect(String(r.stderr)).not.toMatch(/EPIPE|Error|at /);
  });
});

// One violation of each rule, planted in a copy of src/ (never in the real
// tree, which other tests compile and bundle meanwhile): [file, content, the
// rule that must reject it].
const PLANTED: [string, string, string][] = [
  ['src/laundry.ts', "export { run } from './clients/runner.js';\n", 'src-root-depends-on-util-only'],
  ['src/flows/zz-reexport.ts', "export { run } from '../clients/runner.js';\n", 'no-cross-layer-re-export'],
  ...['child_process', 'net', 'http', 'https', 'http2', 'dgram', 'tls'].map((m): [string, string, string] => [
    `src/flows/zz-${m}.ts`,
    `import * as m from 'node:${m}';\nexport const x = m;\n`,
    'only-clients-spawn-or-connect',
  ]),
  ['src/flows/zz-execa.ts', "import { execa } from 'execa';\nexport const x = execa;\n", 'only-clients-spawn-or-connect'],
  ['src/render/zz-write.ts', "import { writeFileSync } from 'node:fs';\nexport const x = writeFileSync;\n", 'render-writes-nothing'],
  ['src/render/zz-write-async.ts', "import { writeFile } from 'node:fs/promises';\nexport const x = writeFile;\n", 'render-writes-nothing'],
  ['src/state/zz-backup.ts', "import { backupDir } from '../backup/catalog.js';\nexport const x = backupDir;\n", 'state-owns-files-only'],
  ['src/state/zz-clients.ts', "import { run } from '../clients/runner.js';\nexport const x = run;\n", 'state-owns-files-only'],
  ['src/cli/handlers/zz-clients.ts', "import { DockerClient } from '../../clients/docker.js';\nexport const x = DockerClient;\n", 'cli-goes-through-flows'],
  ['src/cli/handlers/zz-clients-type.ts', "import type { ContainerState } from '../../clients/docker.js';\nexport type X = ContainerState;\n", 'cli-goes-through-flows'],
  ['src/render/zz-plan.ts', "import { LEVEL_EXIT } from '../plan/status.js';\nexport const x = LEVEL_EXIT;\n", 'render-below-plan'],
  ['src/plan/zz-cycle-a.ts', "import { b } from './zz-cycle-b.js';\nexport const a = () => b();\n", 'no-cycles'],
  ['src/validate/index.ts', "import { renderStack } from '../flows/render.js';\nexport const x = renderStack;\n", 'every-module-in-a-layer'],
  ['src/clients/zz-plan.ts', "import type { StatusReport } from '../plan/status.js';\nexport type X = StatusReport;\n", 'clients-know-no-project-layers'],
  ['src/util/zz-config.ts', "import type { Stack } from '../config/schema.js';\nexport type X = Stack;\n", 'util-is-the-bottom'],
  ['src/config/zz-render.ts', "import { composeFiles } from '../render/index.js';\nexport const x = composeFiles;\n", 'config-is-the-bottom'],
  ['src/import/zz-render.ts', "import { composeFiles } from '../render/index.js';\nexport const x = composeFiles;\n", 'import-reads-config-only'],
  ['src/commands/zz-clients.ts', "import { run } from '../clients/runner.js';\nexport const x = run;\n", 'commands-build-from-config-only'],
  ['src/plan/zz-state.ts', "import { readReleases } from '../state/ledger.js';\nexport const x = readReleases;\n", 'plan-decides-from-below'],
  ['src/backup/zz-state.ts', "import { readReleases } from '../state/ledger.js';\nexport const x = readReleases;\n", 'backup-owns-the-archive'],
  ['src/backup/zz-runner.ts', "import { runChecked } from '../clients/runner.js';\nexport const x = runChecked;\n", 'backup-runs-through-the-port'],
  ['src/backup/zz-session.ts', "import { startTextSession } from '../clients/session.js';\nexport const x = startTextSession;\n", 'backup-runs-through-the-port'],
  ['src/flows/zz-runner.ts', "import { runChecked } from '../clients/runner.js';\nexport const x = runChecked;\n", 'flows-run-through-the-port'],
  ['src/flows/zz-session.ts', "import { startTextSession } from '../clients/session.js';\nexport const x = startTextSession;\n", 'flows-run-through-the-port'],
  ['src/flows/zz-cli.ts', "import { Cli } from '../cli/context.js';\nexport const x = Cli;\n", 'flows-never-reach-cli'],
  ['src/flows/zz-target.ts', "import { targetFor } from '../target/index.js';\nexport const x = targetFor;\n", 'flows-never-reach-cli'],
  ['src/target/zz-clients.ts', "import { SwarmClient } from '../clients/swarm.js';\nexport const x = SwarmClient;\n", 'targets-run-flows'],
  ['src/target/zz-cli.ts', "import { Cli } from '../cli/context.js';\nexport const x = Cli;\n", 'targets-run-flows'],
  ['src/cli/handlers/zz-swarm-flow.ts', "import { swarmDeploy } from '../../flows/swarm.js';\nexport const x = swarmDeploy;\n", 'cli-picks-no-target'],
  ['src/cli/handlers/zz-swarm-target.ts', "import { swarmTarget } from '../../target/swarm.js';\nexport const x = swarmTarget;\n", 'cli-picks-no-target'],
];

// Written beside them: the other half of the planted cycle (the cycle is reported once, from its first module).
const PLANTED_ALSO: [string, string][] = [['src/plan/zz-cycle-b.ts', "import { a } from './zz-cycle-a.js';\nexport const b = () => a();\n"]];

// What only the source scan sees: [file, content, a word of the problem it must report].
const PLANTED_SCAN: [string, string, RegExp][] = [
  ['src/state/zz-kill.ts', 'export function end(pid: number): void {\n  process.kill(pid, \'SIGTERM\');\n}\n', /zz-kill\.ts:2: signals another process/],
  ['src/flows/zz-reexport-import.ts', "import { backupDir } from '../backup/catalog.js';\nexport { backupDir };\n", /zz-reexport-import\.ts: re-exports backupDir of src\/backup\/catalog\.ts/],
  ['src/flows/zz-reexport.ts', "export { run } from '../clients/runner.js';\n", /zz-reexport\.ts: re-exports src\/clients\/runner\.ts/],
  ['src/render/zz-write.ts', "import { writeFileSync } from 'node:fs';\nexport const x = writeFileSync;\n", /zz-write\.ts: render takes writeFileSync from node:fs/],
  ['src/render/zz-long.ts', 'export const x = 1;\n'.repeat(MAX_LINES + 1), new RegExp(`zz-long\\.ts: ${MAX_LINES + 1} lines`)],
  ['src/flows/zz-print.ts', "export const say = (t: string) => console.log(t);\n", /zz-print\.ts:1: prints or exits/],
  ['src/cli/handlers/zz-kind.ts', "import type { Stack } from '../../config/schema.js';\nexport const swarmy = (s: Stack) => s.target === 'swarm';\n", /zz-kind\.ts:2: tests the target kind in src\/cli/],
  ['src/cli/handlers/zz-kind-literal.ts', "export const swarmy = (kind: string) => 'swarm' !== kind;\n", /zz-kind-literal\.ts:1: tests the target kind in src\/cli/],
  ['src/render/zz-kind.ts', "import type { Stack } from '../config/schema.js';\nexport const swarmy = (s: Stack) => s.target === 'swarm';\n", /zz-kind\.ts:2: tests the target kind in src\/render/],
  ['src/flows/zz-kind.ts', "import type { Stack } from '../config/schema.js';\nexport const swarmy = (s: Stack) => s.target !== 'swarm';\n", /zz-kind\.ts:2: tests the target kind in src\/flows/],
];

describe('every layer rule rejects a planted violation', () => {
  let copy: string;
  beforeAll(() => {
    const base = path.join(ROOT, '.tmp-tests');
    mkdirSync(base, { recursive: true });
    copy = mkdtempSync(path.join(base, 'layers-'));
    cpSync(path.join(ROOT, 'src'), path.join(copy, 'src'), { recursive: true });
    for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json']) cpSync(path.join(ROOT, f), path.join(copy, f));
    for (const [file, content] of [...PLANTED, ...PLANTED_ALSO, ...PLANTED_SCAN]) {
      mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
      writeFileSync(path.join(copy, file), content);
    }
    // render/templates.ts may import node:fs (it reads templates): a write there is the scan's to catch
    const templates = path.join(copy, 'src/render/templates.ts');
    writeFileSync(templates, "import { appendFileSync } from 'node:fs';\nexport const planted = appendFileSync;\n" + readFileSync(templates, 'utf8'));
  });

  it('dependency-cruiser fails, and names each planted file with the rule it breaks', async () => {
    const r = await cruise(copy, [...PLANTED, ...PLANTED_ALSO].map(([f]) => f));
    expect(r.exitCode, r.output).toBeGreaterThanOrEqual(PLANTED.length);
    const missed = PLANTED.filter(([file, , rule]) => !r.violations.some((v) => v.from === file && v.rule === rule)).map(([f, , rule]) => `${f}: ${rule}`);
    expect(missed, r.output).toEqual([]);
  }, 60_000);

  it('the source scan reports each planted problem', () => {
    const problems = sourceProblems(copy);
    for (const [, , want] of PLANTED_SCAN) expect(problems.some((p) => want.test(p)), String(want)).toBe(true);
    expect(problems).toContain('src/render/templates.ts: render takes appendFileSync from node:fs (renderers write nothing: flows/render.ts writes)');
  });
});

