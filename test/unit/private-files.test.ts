// The state layer's private writers under a loose and a zero umask: folders
// 0700, files 0600, set exactly (not merely masked); a state folder an older
// version left loose is tightened, the render folder's contents left as
// containers need them.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendPrivate, mkdirPrivate, replacePrivate, tightenTree } from '../../src/util/private-files.js';
import { privateStateDir } from '../../src/state/private.js';
import { writeRendered } from '../../src/flows/render.js';

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
let dir = '';
let saved = 0;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-private-'));
  saved = process.umask(0o000); // the worst case: nothing masked
});
afterAll(() => {
  process.umask(saved);
  rmSync(dir, { recursive: true, force: true });
});

describe('private writers (umask 000)', () => {
  it('mkdirPrivate makes every folder it creates 0700 and tightens the target, never a parent that existed', () => {
    const parent = path.join(dir, 'parent');
    mkdirSync(parent, { mode: 0o755 });
    mkdirPrivate(path.join(parent, 'a', 'b', 'c'));
    expect(mode(parent)).toBe('755');
    for (const p of ['a', 'a/b', 'a/b/c']) expect(mode(path.join(parent, p))).toBe('700');
    chmodSync(path.join(parent, 'a', 'b', 'c'), 0o777);
    mkdirPrivate(path.join(parent, 'a', 'b', 'c'));
    expect(mode(path.join(parent, 'a', 'b', 'c'))).toBe('700');
  });

  it('replacePrivate and appendPrivate write 0600 files, and an append tightens a looser file', () => {
    const f = path.join(dir, 'w', 'x.json');
    replacePrivate(f, '{}\n');
    expect([mode(path.dirname(f)), mode(f)]).toEqual(['700', '600']);
    const log = path.join(dir, 'w', 'run.jsonl');
    writeFileSync(log, 'old\n', { mode: 0o666 });
    appendPrivate(log, 'new\n');
    expect(mode(log)).toBe('600');
  });

  it('privateStateDir tightens what lifeops keeps in a loose state folder, leaving what render/<env>/ holds as containers need it, and files not its own', () => {
    const state = path.join(dir, 'state');
    writeRendered([{ path: 'postgres/postgresql.conf', content: 'x\n' }, { path: 'docker-compose.yml', content: 'services: {}\n' }], path.join(state, 'render', 'local'));
    mkdirSync(path.join(state, 'backups', 'b1'), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(state, 'backups', 'b1', 'demo.dump'), 'd', { mode: 0o644 });
    writeFileSync(path.join(state, 'releases.jsonl'), '{}\n', { mode: 0o644 });
    writeFileSync(path.join(state, 'deploy.sh'), '#!/bin/sh\n', { mode: 0o755 }); // not lifeops's: `--state-dir .` may hold such files
    chmodSync(state, 0o755);
    privateStateDir(state);
    expect(mode(path.join(state, 'deploy.sh'))).toBe('755');
    expect(mode(state)).toBe('700');
    expect(mode(path.join(state, 'backups'))).toBe('700');
    expect(mode(path.join(state, 'backups', 'b1'))).toBe('700');
    expect(mode(path.join(state, 'backups', 'b1', 'demo.dump'))).toBe('600');
    expect(mode(path.join(state, 'releases.jsonl'))).toBe('600');
    expect(mode(path.join(state, 'render'))).toBe('700');
    expect(mode(path.join(state, 'render', 'local'))).toBe('700');
    expect(mode(path.join(state, 'render', 'local', 'postgres'))).toBe('755');
    expect(mode(path.join(state, 'render', 'local', 'postgres', 'postgresql.conf'))).toBe('644');
    expect(mode(path.join(state, 'render', 'local', '.lifeops-rendered.json'))).toBe('600');
  });

  it('a release archive written private is 0700/0600 throughout', () => {
    const archive = path.join(dir, 'state2', 'releases', 'local', 'r1');
    writeRendered([{ path: 'nginx/conf.d/site.conf', content: 'x\n' }], archive, 'private');
    expect(tightenTree(path.join(dir, 'state2'))).toBe(0);
  });
});
