// The TypeScript compiler over src/, test/ and bench/ (tsc --noEmit): a type
// error anywhere fails the unit lane like any other test.
import { it, expect } from 'vitest';
import { execa } from 'execa';
import { ROOT } from '../helpers.js';

it('tsc --noEmit reports no error', async () => {
  const r = await execa('node_modules/.bin/tsc', ['--noEmit', '-p', '.'], { cwd: ROOT, reject: false, all: true });
  expect(r.exitCode, String(r.all)).toBe(0);
}, 180_000);
