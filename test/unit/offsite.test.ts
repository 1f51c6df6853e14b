// backup.offsite: the schema's errors (file:line:key, exit 2), the restic argv
// builders (exact argv per repository kind; the password only ever in the
// child's environment) and status's off-site freshness check.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { resticBackup, resticCheck, resticInit, resticRestore, resticSnapshots, resticTarget, sftpHost } from '../../src/commands/restic.js';
import { offsiteCheck } from '../../src/plan/offsite-status.js';
import { snapshotIdOf } from '../../src/clients/restic.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lifeops-offsite-'));
const STACK = (offsite: string) => `name: shop
default_environment: local
services:
  web:
    role: web
    image: shop/web:1.0
backup:
  offsite:
${offsite}
environments:
  local: {}
`;
function load(name: string, offsite: string, env: Record<string, string> = {}) {
  const f = path.join(tmp, name);
  writeFileSync(f, STACK(offsite));
  return loadStack({ file: f, processEnv: env });
}
function loadError(name: string, offsite: string): ConfigError {
  try {
    load(name, offsite);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('backup.offsite schema', () => {
  it('takes a local path, an sftp and an s3 repository', () => {
    const s = load('ok.yaml', `    - { name: disk, repository: ./offsite, password_env: OFFSITE_PASSWORD }
    - { name: box, repository: "sftp:backup@10.77.0.2:/srv/restic", password_file: secrets/restic.pw, known_hosts: secrets/known_hosts, identity_file: secrets/id_ed25519 }
    - { name: bucket, repository: "s3:s3.example.com/bucket/shop", password_env: OFFSITE_PASSWORD, freshness: { warn: 2d, crit: 4d }, check_subsets: 7 }`);
    expect(s.backup.offsite.map((r) => r.name)).toEqual(['disk', 'box', 'bucket']);
    expect(s.backup.offsite[0].freshness).toEqual({ warn: '30h', crit: '54h' });
    expect(s.backup.offsite[0].check_subsets).toBe(12);
    expect(s.backup.offsite[2].check_subsets).toBe(7);
  });

  it('defaults to no repository', () => {
    const f = path.join(tmp, 'none.yaml');
    writeFileSync(f, STACK('    []'));
    expect(loadStack({ file: f, processEnv: {} }).backup.offsite).toEqual([]);
  });

  it('rejects an unknown key with file:line:column and the key path', () => {
    const e = loadError('unknown.yaml', `    - name: disk
      repository: /srv/offsite
      password_env: OFFSITE_PASSWORD
      pasword: hunter2`);
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/unknown\.yaml:12:7: backup\.offsite\.0\.pasword: unknown key/);
  });

  it('rejects a repository URL it does not know, naming the forms it takes', () => {
    const e = loadError('url.yaml', `    - name: disk
      repository: "ftp://host/x"
      password_env: OFFSITE_PASSWORD`);
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/url\.yaml:10:19: backup\.offsite\.0\.repository: /);
    expect(e.message).toContain('sftp:user@host:/path');
  });

  it('needs exactly one password source', () => {
    const none = loadError('nopw.yaml', `    - name: disk
      repository: /srv/offsite`);
    expect(none.message).toMatch(/nopw\.yaml:\d+:\d+: backup\.offsite\.0\.password_env: missing: give exactly one of password_env/);
    const both = loadError('both.yaml', `    - name: disk
      repository: /srv/offsite
      password_env: OFFSITE_PASSWORD
      password_file: secrets/pw`);
    expect(both.message).toMatch(/both\.yaml:11:\d+: backup\.offsite\.0\.password_env: found "OFFSITE_PASSWORD"; give exactly one/);
  });

  it('needs known_hosts and identity_file for sftp, and refuses them elsewhere', () => {
    const e = loadError('sftp.yaml', `    - name: box
      repository: "sftp:backup@10.77.0.2:/srv/restic"
      password_env: OFFSITE_PASSWORD`);
    expect(e.message).toMatch(/sftp\.yaml:\d+:\d+: backup\.offsite\.0\.known_hosts: missing: an sftp repository needs known_hosts/);
    expect(e.message).toContain('identity_file');
    const l = loadError('local-kh.yaml', `    - name: disk
      repository: /srv/offsite
      password_env: OFFSITE_PASSWORD
      known_hosts: kh`);
    expect(l.message).toMatch(/local-kh\.yaml:12:\d+: backup\.offsite\.0\.known_hosts: found "kh"; known_hosts applies only to an sftp: repository/);
  });

  it('rejects two repositories of one name and a bad freshness', () => {
    const e = loadError('dup.yaml', `    - { name: disk, repository: /a, password_env: P }
    - { name: disk, repository: /b, password_env: P }`);
    expect(e.message).toMatch(/dup\.yaml:10:\d+: backup\.offsite\.1\.name: found "disk"; "disk" names two off-site repositories/);
    const f = loadError('fresh.yaml', `    - { name: disk, repository: /a, password_env: P, freshness: { warn: soon } }`);
    expect(f.message).toMatch(/fresh\.yaml:9:\d+: backup\.offsite\.0\.freshness\.warn: /);
  });
});

describe('restic argv', () => {
  const cache = '/state/cache/restic';
  const secret = { value: 'correct-horse-battery-staple' };
  const o = { project: 'shop', env: 'local', backupId: '20261207T051200Z-ab12' };

  it('local path: relative paths resolve against the stack file; the password is in the env only', () => {
    const t = resticTarget({ name: 'disk', repository: './offsite', password_env: 'P', freshness: { warn: '30h', crit: '54h' }, check_subsets: 12 }, '/srv/shop');
    expect(t.url).toBe('/srv/shop/offsite');
    const b = resticBackup(t, secret, cache, o);
    expect(b.argv).toEqual([
      'restic', '--repo', '/srv/shop/offsite',
      'backup', '--json', '--host', 'lifeops-shop-local',
      '--tag', 'lifeops', '--tag', 'project=shop', '--tag', 'env=local', '--tag', 'backup=20261207T051200Z-ab12',
      '20261207T051200Z-ab12',
    ]);
    // variables of the operator's shell that would choose another repository or password are emptied (restic: unset)
    const cleared = { RESTIC_REPOSITORY: '', RESTIC_REPOSITORY_FILE: '', RESTIC_PASSWORD_COMMAND: '', RESTIC_PASSWORD: '', RESTIC_PASSWORD_FILE: '' };
    expect(b.env).toEqual({ ...cleared, RESTIC_PASSWORD: 'correct-horse-battery-staple', RESTIC_CACHE_DIR: cache });
    expect(resticInit(t, { file: '/srv/shop/secrets/pw' }, cache)).toEqual({ argv: ['restic', '--repo', '/srv/shop/offsite', 'init'], env: { ...cleared, RESTIC_PASSWORD_FILE: '/srv/shop/secrets/pw', RESTIC_CACHE_DIR: cache } });
    expect(resticSnapshots(t, secret, cache, o).argv.slice(3)).toEqual(['snapshots', '--json', '--tag', 'project=shop,env=local']);
    expect(resticCheck(t, secret, cache, 3, 12).argv.slice(3)).toEqual(['check', '--read-data-subset=3/12']);
    expect(() => resticCheck(t, secret, cache, 13, 12)).toThrow();
    expect(resticRestore(t, secret, cache, 'abc123', '/tmp/r').argv.slice(3)).toEqual(['restore', 'abc123', '--target', '/tmp/r']);
  });

  it('sftp: ssh pinned to the known_hosts file, key only, batch mode', () => {
    const t = resticTarget(
      { name: 'box', repository: 'sftp:backup@10.77.0.2:/srv/restic', password_file: 'secrets/pw', known_hosts: 'secrets/known_hosts', identity_file: 'secrets/id', freshness: { warn: '30h', crit: '54h' }, check_subsets: 12 },
      '/srv/shop',
    );
    expect(resticInit(t, { file: '/srv/shop/secrets/pw' }, cache).argv).toEqual([
      'restic', '--repo', 'sftp:backup@10.77.0.2:/srv/restic',
      '--option', 'sftp.command=ssh -i /srv/shop/secrets/id -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/srv/shop/secrets/known_hosts -o ConnectTimeout=10 -o ServerAliveInterval=10 -o ServerAliveCountMax=3 backup@10.77.0.2 -s sftp',
      'init',
    ]);
    expect(sftpHost('sftp://backup@10.77.0.2:2222//srv/restic')).toEqual({ login: 'backup@10.77.0.2', port: 2222 });
    expect(resticCheck({ ...t, url: 'sftp://backup@10.77.0.2:2222//srv/restic' }, secret, cache, 1, 2).argv[4]).toContain(' -p 2222 backup@10.77.0.2 -s sftp');
  });

  it('never puts the password in any argv', () => {
    const t = resticTarget({ name: 'disk', repository: '/r', password_env: 'P', freshness: { warn: '30h', crit: '54h' }, check_subsets: 12 }, '/');
    for (const c of [resticInit(t, secret, cache), resticBackup(t, secret, cache, o), resticSnapshots(t, secret, cache, o), resticCheck(t, secret, cache, 1, 1), resticRestore(t, secret, cache, 's', '/x')]) {
      expect(c.argv.join(' ')).not.toContain(secret.value);
      expect(c.env.RESTIC_PASSWORD).toBe(secret.value);
    }
  });

  it('reads the snapshot id from restic backup --json', () => {
    expect(snapshotIdOf('{"message_type":"status","percent_done":1}\n{"message_type":"summary","snapshot_id":"5141ab16"}')).toBe('5141ab16');
    expect(() => snapshotIdOf('{"message_type":"status"}')).toThrow(/without naming its snapshot/);
  });
});

describe('status: off-site freshness', () => {
  const now = new Date('2026-12-07T12:00:00Z');
  const base = { repo: 'box', copies: 1, warn_s: 30 * 3600, crit_s: 54 * 3600 };
  it('OK while the newest copy is fresh, WARNING then CRITICAL as it ages', () => {
    expect(offsiteCheck({ ...base, newest: { id: 'a', time: '2026-12-07T02:00:00Z' } }, now).level).toBe('OK');
    expect(offsiteCheck({ ...base, newest: { id: 'a', time: '2026-12-06T02:00:00Z' } }, now).level).toBe('WARNING');
    expect(offsiteCheck({ ...base, newest: { id: 'a', time: '2026-12-05T02:00:00Z' } }, now).level).toBe('CRITICAL');
  });
  it('a failed copy attempt or check is at least a WARNING, and says why', () => {
    const c = offsiteCheck({ ...base, newest: { id: 'a', time: '2026-12-07T11:00:00Z' }, last_attempt: { time: '2026-12-07T11:30:00Z', ok: false, error: 'connection refused' } }, now);
    expect(c.level).toBe('WARNING');
    expect(c.message).toContain('last copy attempt FAILED 30m00s ago: connection refused');
    expect(offsiteCheck({ ...base, newest: { id: 'a', time: '2026-12-07T11:00:00Z' }, last_check: { time: '2026-12-07T11:00:00Z', ok: false, subset: '2/12', error: 'pack damaged' } }, now).level).toBe('WARNING');
    expect(offsiteCheck({ ...base, copies: 0 }, now).level).toBe('WARNING');
  });
});
