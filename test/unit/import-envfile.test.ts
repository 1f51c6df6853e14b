// The project's .env read as compose reads it (config/envfile.ts): lifeops
// reads the env file `import` writes, and compose reads the original, so both
// must agree on every form. Each value is checked against the real `docker
// compose config` (v2 host binary, no engine) reading the same file.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parseEnvEntries, parseEnvText, envQuote } from '../../src/config/envfile.js';
import { ConfigError } from '../../src/errors.js';

const TRICKY = [
  'A=one',
  'B=${A}-two',
  "C='${A}-literal'",
  'D="${A}:${LATER} \\$x $$y"',
  'E=${UNSET:-dflt}',
  'F=$A/bare',
  'LATER=later',
  'H=${LATER}',
  'I=x # a comment',
  'J="q # not a comment"',
  'K=${A:+alt}${UNSET:+never}',
  'L=${UNSET-dash}',
  'EMPTY=',
  'M=${EMPTY-kept-empty}${EMPTY:-colon}',
  'N="multi',
  'line ${A}"',
  "O='single",
  "lines'",
  'P="tab\\there \\\\ back"',
  'Q=a\\nb',
  'R=${UNSET:-${A}-nested}',
  'export S=exported',
  'T = spaced',
  'U=$${A}',
  'V="x" # after quotes',
].join('\n');

describe('.env as compose reads it', () => {
  it('every form gives the value docker compose gives', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-envfile-'));
    writeFileSync(path.join(dir, '.env'), TRICKY + '\n');
    const ours = parseEnvText(TRICKY, {});
    const keys = Object.keys(ours);
    // compose hands each variable to a container: `environment: { K: $K }` is the value it read from .env
    writeFileSync(path.join(dir, 'compose.yaml'), `services:\n  s:\n    image: busybox\n    environment:\n${keys.map((k) => `      ${k}: "\${${k}}"`).join('\n')}\n`);
    const r = await execa('docker', ['compose', 'config', '--format', 'json'], { cwd: dir, reject: false, env: { PATH: process.env.PATH ?? '', HOME: '/root' }, extendEnv: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const theirs = JSON.parse(r.stdout).services.s.environment as Record<string, string>;
    // compose writes a literal $ as $$ in its output
    for (const k of keys) expect(ours[k], k).toBe(String(theirs[k] ?? '').replace(/\$\$/g, '$'));
    expect(ours).toMatchObject({ B: 'one-two', C: '${A}-literal', D: 'one: $x $y', H: 'later', N: 'multi\nline one', R: 'one-nested', U: '${A}', V: 'x' });
  });

  it('the environment given wins over the file when expanding, as in compose', () => {
    expect(parseEnvText('A=file\nB=${A}\n', { A: 'shell' }).B).toBe('shell');
  });

  it('a required variable not set is a ConfigError at its file:line', () => {
    expect(() => parseEnvEntries('A=1\nB=${NOPE:?set NOPE first}\n', {}, 'app/.env')).toThrow(ConfigError);
    expect(() => parseEnvEntries('A=1\nB=${NOPE:?set NOPE first}\n', {}, 'app/.env')).toThrow(/^app\/\.env:2: B: variable NOPE is required: set NOPE first/);
  });

  it('envQuote writes any value so that it reads back unchanged', () => {
    for (const v of ['plain', 'with space', "it's", '${NOT_A_VAR}', 'a"b\\c$d', 'multi\nline', '', 'tab\there']) {
      expect(parseEnvText(`K=${envQuote(v)}\n`, { NOT_A_VAR: 'x' }).K, JSON.stringify(v)).toBe(v);
    }
  });
});
