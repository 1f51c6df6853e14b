// The SSH transport's pure parts (issue 26): host addresses, exact ssh argv,
// the quoting of a command for the server's shell (checked by a real sh with
// hostile words), compose's project folder on the server, and what a remote
// environment refuses before connecting.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeWithServerDir, parseSshHost, quoteWord, remoteCommandLine, sshMaster, sshRun, sshExit, sshForward, sshKeyscan, sshOptions } from '../../src/commands/ssh.js';
import { holdLock, publishBundle, writeSecretFile } from '../../src/commands/remote-scripts.js';
import { hostKeyRefusal } from '../../src/clients/ssh.js';
import { commandOf, refuseOnRemote } from '../../src/flows/remote-target.js';
import { loadStack } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import type { Stack } from '../../src/config/schema.js';

describe('host addresses', () => {
  it.each([
    ['ssh://ops@server', { destination: 'ops@server', hostname: 'server', user: 'ops' }],
    ['ssh://ops@10.0.0.5:2222', { destination: 'ops@10.0.0.5', hostname: '10.0.0.5', port: 2222, user: 'ops' }],
    ['ssh://server.example.org', { destination: 'server.example.org', hostname: 'server.example.org' }],
    ['prod-web1', { destination: 'prod-web1', hostname: 'prod-web1' }],
  ])('%s', (text, want) => expect(parseSshHost(text)).toEqual(want));

  it.each(['ssh://ops@server:99999', 'ssh://ops@-oProxyCommand=x', 'ssh://-oProxyCommand', 'ssh://-x@server', '-oProxyCommand=evil', 'ops@server', 'http://server', 'ssh://a b'])('refuses %s', (text) => expect(parseSshHost(text)).toBeUndefined());
});

const settings = { controlPath: '/tmp/lifeops-ssh-x/master', knownHostsFile: '/k/known_hosts', identityFile: '/k/id', persistSeconds: 15 };
const host = { destination: 'ops@server', hostname: 'server', port: 2222, user: 'ops' };
const common = [
  '-o', 'ControlMaster=auto', '-o', 'ControlPath=/tmp/lifeops-ssh-x/master', '-o', 'ControlPersist=15', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
  '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3',
  '-o', 'UserKnownHostsFile=/k/known_hosts', '-i', '/k/id', '-o', 'IdentitiesOnly=yes', '-p', '2222',
];

describe('ssh argv (golden)', () => {
  it('shared options', () => expect(sshOptions(settings, host)).toEqual(common));
  it('without a known_hosts file or key: ssh uses its own (~/.ssh/config, agent)', () =>
    expect(sshOptions({ controlPath: '/c', persistSeconds: 5 }, { destination: 'prod', hostname: 'prod' })).not.toContain('UserKnownHostsFile=/k/known_hosts'));
  it('master with the engine socket forwarded', () =>
    expect(sshMaster(settings, host, [{ local: '/tmp/lifeops-ssh-x/docker.sock', remote: '/var/run/docker.sock' }])).toEqual([
      'ssh', ...common, '-o', 'ExitOnForwardFailure=yes', '-o', 'StreamLocalBindUnlink=yes', '-L', '/tmp/lifeops-ssh-x/docker.sock:/var/run/docker.sock', '-f', '-N', 'ops@server',
    ]));
  it('a command on the server: one quoted string after --', () =>
    expect(sshRun(settings, host, ['docker', 'ps', '--format', '{{.Names}}'])).toEqual(['ssh', ...common, 'ops@server', '--', "docker ps --format '{{.Names}}'"]));
  it('exit and forward talk to the master only', () => {
    expect(sshExit(settings, host)).toEqual(['ssh', '-o', 'ControlPath=/tmp/lifeops-ssh-x/master', '-O', 'exit', 'ops@server']);
    expect(sshForward(settings, host, { local: '127.0.0.1:8080', remote: '127.0.0.1:8080' })).toEqual(['ssh', '-o', 'ControlPath=/tmp/lifeops-ssh-x/master', '-O', 'forward', '-L', '127.0.0.1:8080:127.0.0.1:8080', 'ops@server']);
  });
  it('keyscan', () => expect(sshKeyscan(host)).toEqual(['ssh-keyscan', '-T', '10', '-p', '2222', 'server']));
});

// what the server's shell makes of the line: a real sh splits it and prints each word NUL-terminated
function wordsAfterShell(line: string): string[] {
  const out = execFileSync('sh', ['-c', `set -- ${line}; for w in "$@"; do printf '%s\\0' "$w"; done`]).toString();
  return out.split('\0').slice(0, -1);
}

describe('quoting for the remote shell', () => {
  const hostile = [
    "it's",
    '$(touch /tmp/pwned)',
    '`id`',
    'a b\tc\nd',
    '"double"',
    "'",
    "''",
    '',
    '; rm -rf / #',
    '$HOME ${PATH} $1 $@ $*',
    '\\ backslash \\\\',
    '*',
    '~root',
    '--option=value',
    'émoji 🎉 ünïcode',
    '!history',
    '|&><',
  ];
  it.each(hostile.map((w) => [JSON.stringify(w), w]))('%s comes out as itself', (_n, w) => expect(wordsAfterShell(remoteCommandLine([w]))).toEqual([w]));
  it('a whole argv, word for word', () => expect(wordsAfterShell(remoteCommandLine(hostile))).toEqual(hostile));
  it('plain words stay readable', () => expect(remoteCommandLine(['docker', 'compose', '-p', 'demo-remote', 'ps'])).toBe('docker compose -p demo-remote ps'));
  it('a NUL byte cannot be sent: refused, not truncated', () => expect(() => quoteWord('a\0b')).toThrow(/NUL/));
  it('nothing reaches a shell unquoted through the scripts (their inputs are positional words)', () => {
    const argv = publishBundle('/srv/lifeops/x', "20261207T000000Z-abc'; id", 'f'.repeat(64));
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).not.toContain('abc');
    expect(wordsAfterShell(remoteCommandLine(argv))).toEqual(argv);
  });
});

describe('the server-side scripts, run by a local sh', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-remote-scripts-'));
  it('a bundle with the wrong digest is refused and nothing is switched', () => {
    const tar = path.join(dir, 'b.tar');
    execFileSync('tar', ['-cf', tar, '-C', os.tmpdir(), '--files-from', '/dev/null']);
    const [cmd, ...args] = publishBundle(path.join(dir, 'env'), 'r1', '0'.repeat(64));
    let code = 0;
    try {
      execFileSync(cmd, args, { input: execFileSync('cat', [tar]), stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(3);
    expect(() => execFileSync('readlink', [path.join(dir, 'env', 'current')])).toThrow();
  });
  it('a good bundle lands in releases/<id> and current points at it', () => {
    const src = path.join(dir, 'src');
    execFileSync('mkdir', ['-p', path.join(src, 'nginx')]);
    writeFileSync(path.join(src, 'nginx', 'nginx.conf'), 'events {}\n');
    const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.']);
    const sum = execFileSync('sha256sum', { input: tar }).toString().split(' ')[0];
    const [cmd, ...args] = publishBundle(path.join(dir, 'env'), 'r2', sum);
    const out = execFileSync(cmd, args, { input: tar }).toString().trim();
    expect(out).toBe(path.join(dir, 'env', 'releases', 'r2'));
    expect(execFileSync('cat', [path.join(dir, 'env', 'current', 'nginx', 'nginx.conf')]).toString()).toBe('events {}\n');
  });
  // a release sent again (a deploy's undo, a rollback) may be bind-mounted by a running container: never deleted under it
  const publishAgain = (files: Record<string, string>) => {
    const src = mkdtempSync(path.join(dir, 'again-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(src, name), text);
    const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.']);
    const sum = execFileSync('sha256sum', { input: tar }).toString().split(' ')[0];
    const [cmd, ...args] = publishBundle(path.join(dir, 'env'), 'r3', sum);
    return execFileSync(cmd, args, { input: tar }).toString().trim();
  };
  const inode = (f: string) => execFileSync('stat', ['-c', '%i', f]).toString().trim();
  it('the same release sent again keeps its folder (a container that mounted it still sees it)', () => {
    publishAgain({ 'nginx.conf': 'events {}\n' });
    const before = inode(path.join(dir, 'env', 'releases', 'r3'));
    expect(publishAgain({ 'nginx.conf': 'events {}\n' })).toBe(path.join(dir, 'env', 'releases', 'r3'));
    expect(inode(path.join(dir, 'env', 'releases', 'r3'))).toBe(before);
  });
  it('the same id with other files: the old folder is set aside, not deleted', () => {
    const before = inode(path.join(dir, 'env', 'releases', 'r3'));
    publishAgain({ 'nginx.conf': 'events { worker_connections 64; }\n' });
    expect(readFileSync(path.join(dir, 'env', 'current', 'nginx.conf'), 'utf8')).toContain('worker_connections');
    const aside = readdirSync(path.join(dir, 'env', 'releases')).filter((n) => n.startsWith('.replaced-r3-'));
    expect(aside).toHaveLength(1);
    expect(inode(path.join(dir, 'env', 'releases', aside[0]))).toBe(before);
    expect(readFileSync(path.join(dir, 'env', 'releases', aside[0], 'nginx.conf'), 'utf8')).toBe('events {}\n');
  });
  it('a secret file is written 0600 from stdin', () => {
    const f = path.join(dir, 'env', 'releases', 'r2', 'alertmanager', 'secrets', 'slack_webhook_url');
    const [cmd, ...args] = writeSecretFile(f);
    execFileSync(cmd, args, { input: 's3cret' });
    expect(execFileSync('stat', ['-c', '%a', f]).toString().trim()).toBe('600');
    expect(args.join(' ')).not.toContain('s3cret');
  });
  it('the lock script names the lock folder, the holder and the wait as words', () =>
    expect(holdLock('/srv/lifeops/p/locks', 'deploy', 'ops@laptop pid 1', 60).slice(3)).toEqual(['sh', '/srv/lifeops/p/locks', 'deploy', 'ops@laptop pid 1', '60']));
});

describe('compose on the operator side, paths on the server', () => {
  const dir = '/srv/lifeops/demo-remote/current';
  it('adds the project folder to a compose argv', () =>
    expect(composeWithServerDir(['docker', 'compose', '-p', 'p', '-f', '/l/render/remote/docker-compose.yml', 'up', '-d'], dir)).toEqual(['docker', 'compose', '--project-directory', dir, '-p', 'p', '-f', '/l/render/remote/docker-compose.yml', 'up', '-d']));
  it("replaces a local project folder (the planner's scratch copy)", () =>
    expect(composeWithServerDir(['docker', 'compose', '-p', 'p', '--project-directory', '/l/render/remote', '-f', '/tmp/x.yml', 'config', '--hash=*'], dir)).toEqual(['docker', 'compose', '-p', 'p', '--project-directory', dir, '-f', '/tmp/x.yml', 'config', '--hash=*']));
  it('v1 too', () => expect(composeWithServerDir(['docker-compose', '-p', 'p', 'ps'], dir)).toEqual(['docker-compose', '--project-directory', dir, '-p', 'p', 'ps']));
  it('leaves other commands alone', () => expect(composeWithServerDir(['docker', 'volume', 'ls', '-q'], dir)).toEqual(['docker', 'volume', 'ls', '-q']));
});

describe('host key refusals', () => {
  const h = { destination: 'root@10.0.0.9', hostname: '10.0.0.9' };
  it('unknown key: exit 2 naming hosts trust', () => {
    const e = hostKeyRefusal('No ED25519 host key is known for 10.0.0.9 and you have requested strict checking.\r\nHost key verification failed.\r\n', 'prod', h);
    expect(e?.exitCode).toBe(2);
    expect(e?.hint).toContain('lifeops hosts trust prod');
  });
  it('changed key: exit 2, loudly', () => {
    const e = hostKeyRefusal('@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.', 'prod', h);
    expect(e?.exitCode).toBe(2);
    expect(e?.message).toMatch(/NOT the one pinned/);
  });
  it('other failures are not host key refusals', () => expect(hostKeyRefusal('ssh: connect to host 10.0.0.9 port 22: Connection refused', 'prod', h)).toBeUndefined());
});

describe('what a remote environment supports', () => {
  const stack = { env: 'prod', host: 'ssh://ops@server', target: 'compose' } as Stack;
  it('finds the command behind global options', () => {
    expect(commandOf(['-f', 'stack.yaml', '--state-dir', '/s', 'deploy', 'prod'])).toBe('deploy');
    expect(commandOf(['backups', 'verify', '--latest'])).toBe('backups verify');
  });
  it.each([
    ['deploy', 'prod'],
    ['status', '--env', 'prod'],
    ['backup', '--env', 'prod'],
    ['backups', 'list'],
    ['backups', 'verify', '20261207T000000Z-abc', '--env', 'prod'],
    ['backups', 'verify', '--latest'],
    ['rollback', '20261207T000000Z-abc', '--env', 'prod', '--yes'],
    ['rollback', '--release', 'previous', '--env', 'prod'],
    ['down', '--env', 'prod', '--volumes', '--yes'],
    ['maintenance', 'on', '--env', 'prod', '--retry-after', '120'],
    ['maintenance', 'off', '--env', 'prod'],
    ['maintenance', 'status', '--env', 'prod'],
    ['deploy', 'prod', '--maintenance'],
    ['rollback', 'b1', '--maintenance'],
  ])('%s is supported', (...argv) => expect(() => refuseOnRemote(stack, argv)).not.toThrow());
  const refusal = (argv: string[]) => {
    try {
      refuseOnRemote(stack, argv);
    } catch (e) {
      return e as { exitCode: number; message: string };
    }
    return undefined;
  };
  it.each([
    ['cron', '--install'],
    ['lock', 'release', 'x'],
    ['restore', '--from-offsite', 'latest'],
    ['prune', '--env', 'prod'],
    ['certs', 'list'],
    ['rollback', '--to', '2026-12-07 10:31:05'],
    ['rollback', '--to=2026-12-07 10:31:05'],
    ['backups', 'verify', '--offsite'],
  ])('%s is refused with exit 2', (...argv) => expect(refusal(argv)?.exitCode).toBe(2));
  it('an option refusal names the command, the option and the server', () => expect(refusal(['rollback', '--env', 'prod', '--to', 'yesterday'])?.message).toMatch(/^rollback --to is not supported on a remote host yet \(environment prod runs on ssh:\/\/ops@server\).*nothing was changed/));
});

describe('host: in the stack file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-remote-schema-'));
  const stackWith = (host: string) => {
    const f = path.join(dir, `s-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, `name: s\nservices:\n  web: { image: "nginx:1" }\nenvironments:\n  prod:\n    host: ${JSON.stringify(host)}\n`);
    return f;
  };
  it('an environment names its server', () => expect(loadStack({ file: stackWith('ssh://ops@server:2222'), env: 'prod', processEnv: {} }).host).toBe('ssh://ops@server:2222'));
  it('a bad address names the file, line and key', () => {
    const file = stackWith('ops@server; id');
    let err: unknown;
    try {
      loadStack({ file, env: 'prod', processEnv: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/:\d+:\d+.*host/s);
    expect((err as Error).message).toContain('ssh://');
  });
});
