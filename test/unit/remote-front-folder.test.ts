// The server's fixed folder for the nginx front (issue 26), with the scripts
// that keep it, run by a local sh: each release switch brings it to the
// release's nginx files (changed ones renamed into place, so a file nginx
// holds open keeps its old inode; removed ones deleted; maintenance/ left
// alone); maintenance mode is switched in it from a tar on stdin, 0644/0755.
// Also: a remote environment's rendered front mounts that folder.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { publishBundle, switchMaintenance } from '../../src/commands/remote-scripts.js';
import { serverFrontDir } from '../../src/config/remote-schema.js';
import { applyRenderedMounts } from '../../src/render/extras.js';
import type { Stack } from '../../src/config/schema.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-remote-front-'));
const env = path.join(dir, 'env');
const front = path.join(env, 'front');
const inode = (f: string) => statSync(f).ino;
const mode = (f: string) => (statSync(f).mode & 0o777).toString(8);

/** Publish a release whose nginx/ holds `files`, as the operator side does (tar on stdin, its sha256 as a word). */
function publish(id: string, files: Record<string, string>): string {
  const src = mkdtempSync(path.join(dir, 'src-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(src, 'nginx', name)), { recursive: true });
    writeFileSync(path.join(src, 'nginx', name), text);
  }
  writeFileSync(path.join(src, 'docker-compose.yml'), 'services: {}\n');
  const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.']);
  const sum = execFileSync('sha256sum', { input: tar }).toString().split(' ')[0];
  const [cmd, ...args] = publishBundle(env, id, sum, front);
  return execFileSync(cmd, args, { input: tar }).toString().trim();
}

function maintenance(folder: string, pages: Record<string, string> = {}): void {
  const src = mkdtempSync(path.join(dir, 'pages-'));
  for (const [name, text] of Object.entries(pages)) writeFileSync(path.join(src, name), text);
  const tar = folder ? execFileSync('tar', ['-C', src, '-cf', '-', '.']) : Buffer.alloc(0);
  const [cmd, ...args] = switchMaintenance(front, folder);
  execFileSync(cmd, args, { input: tar });
}

describe("the front's fixed folder on the server", () => {
  it('the first release fills it', () => {
    expect(publish('r1', { 'nginx.conf': 'events {}\n', 'conf.d/a.conf': 'server { listen 80; }\n', 'conf.d/c.conf': '# one\n' })).toBe(path.join(env, 'releases', 'r1'));
    expect(readFileSync(path.join(front, 'conf.d', 'a.conf'), 'utf8')).toBe('server { listen 80; }\n');
    expect(mode(front)).toBe('755');
    expect(mode(path.join(front, 'nginx.conf'))).toBe('644');
  });

  it('the next release: a changed file renamed into place, an unchanged one untouched, a removed one gone, the folder itself kept', () => {
    const folder = inode(front);
    const kept = inode(path.join(front, 'nginx.conf'));
    const changed = inode(path.join(front, 'conf.d', 'c.conf'));
    publish('r2', { 'nginx.conf': 'events {}\n', 'conf.d/b.conf': 'server { listen 81; }\n', 'conf.d/c.conf': '# two\n' });
    expect(inode(front)).toBe(folder); // what a running front mounted
    expect(inode(path.join(front, 'nginx.conf'))).toBe(kept);
    expect(existsSync(path.join(front, 'conf.d', 'a.conf'))).toBe(false);
    expect(readFileSync(path.join(front, 'conf.d', 'b.conf'), 'utf8')).toBe('server { listen 81; }\n');
    expect(inode(path.join(front, 'conf.d', 'c.conf'))).not.toBe(changed);
    expect(readFileSync(path.join(front, 'conf.d', 'c.conf'), 'utf8')).toBe('# two\n');
    expect(readlinkSync(path.join(env, 'current'))).toBe('releases/r2');
  });

  it('maintenance on: the page from stdin, 0644 in a 0755 folder, `active` pointing at it', () => {
    maintenance('r-120-abc', { 'index.html': '<p>down</p>\n', 'index.json': '{"status":"maintenance"}\n' });
    expect(readlinkSync(path.join(front, 'maintenance', 'active'))).toBe('r-120-abc');
    expect(readFileSync(path.join(front, 'maintenance', 'active', 'index.html'), 'utf8')).toBe('<p>down</p>\n');
    expect(mode(path.join(front, 'maintenance', 'r-120-abc'))).toBe('755');
    expect(mode(path.join(front, 'maintenance', 'r-120-abc', 'index.json'))).toBe('644');
  });

  it('a release switch leaves maintenance mode as it is', () => {
    publish('r3', { 'nginx.conf': 'events { worker_connections 64; }\n' });
    expect(readlinkSync(path.join(front, 'maintenance', 'active'))).toBe('r-120-abc');
    expect(readFileSync(path.join(front, 'nginx.conf'), 'utf8')).toContain('worker_connections');
    expect(existsSync(path.join(front, 'conf.d'))).toBe(false);
  });

  it('maintenance off unlinks `active` (the page folder stays a minute for requests reading it)', () => {
    maintenance('');
    expect(existsSync(path.join(front, 'maintenance', 'active'))).toBe(false);
    expect(existsSync(path.join(front, 'maintenance', 'r-120-abc', 'index.html'))).toBe(true);
  });

  it('a folder name that is not a state folder is refused; the message travels on stdin only', () => {
    const [cmd, ...args] = switchMaintenance(front, '../x');
    expect(() => execFileSync(cmd, args, { input: Buffer.alloc(0), stdio: 'pipe' })).toThrow();
    expect(switchMaintenance(front, 'r-120-abc').slice(3)).toEqual(['sh', front, 'r-120-abc']);
  });
});

describe("a remote environment's rendered front", () => {
  const stack = (host?: string) =>
    ({ env: 'prod', project: 'shop-prod', host, remote: host ? { root: '/srv/ops/' } : undefined, services: { front: { role: 'front' } }, front: { kind: 'nginx', service: 'front', domains: [{ name: 'localhost' }], tls: { enabled: false } } }) as unknown as Stack;
  const volumes = (s: Stack) => {
    const out: Record<string, unknown> = {};
    applyRenderedMounts(s, 'front', out);
    return out.volumes;
  };
  it('on a server it mounts the fixed folder', () => {
    expect(serverFrontDir({ project: 'shop-prod', remote: { root: '/srv/ops/' } })).toBe('/srv/ops/shop-prod/front');
    expect(volumes(stack('ssh://ops@server'))).toEqual(['/srv/ops/shop-prod/front:/etc/nginx/lifeops:ro']);
  });
  it('on this host, the render folder', () => expect(volumes(stack())).toEqual(['./nginx:/etc/nginx/lifeops:ro']));
});
