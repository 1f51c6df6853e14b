// Pure argv builders for the operator's OpenSSH (issue 26): one multiplexed
// connection per lifeops command (a ControlMaster in a private folder), in
// batch mode, refusing unknown host keys. Commands for the server are sent as
// ONE string that its login shell splits again, so every word is quoted here.

/** Where an environment's `host:` points: `ssh://user@server:port`, or a host name of ~/.ssh/config. */
export interface SshHost {
  /** what ssh gets as its destination: user@server, server, or the config alias */
  destination: string;
  /** the name the server is known by (known_hosts, ssh-keyscan) */
  hostname: string;
  port?: number;
  user?: string;
}

const URL_FORM = /^ssh:\/\/(?:([A-Za-z0-9_][A-Za-z0-9._-]*)@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?\/?$/;
const ALIAS_FORM = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** undefined when `host` has neither form (the schema says which forms are valid). */
export function parseSshHost(host: string): SshHost | undefined {
  const m = URL_FORM.exec(host);
  if (m) {
    const hostname = m[2].replace(/^\[|\]$/g, '');
    const port = m[3] ? Number(m[3]) : undefined;
    if (port !== undefined && (port < 1 || port > 65535)) return undefined;
    return { destination: m[1] ? `${m[1]}@${hostname}` : hostname, hostname, ...(port ? { port } : {}), ...(m[1] ? { user: m[1] } : {}) };
  }
  if (ALIAS_FORM.test(host)) return { destination: host, hostname: host };
  return undefined;
}

/** Words a POSIX shell reads as themselves; anything else is single-quoted. */
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One word for the remote shell: `it's` -> 'it'\''s'; an empty word stays a word (''). */
export function quoteWord(word: string): string {
  if (word.includes('\0')) throw new Error('a NUL byte cannot be passed to a remote command');
  return PLAIN.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line the server's shell runs: exactly argv, whatever its words hold. */
export const remoteCommandLine = (argv: string[]): string => argv.map(quoteWord).join(' ');

export interface SshSettings {
  /** the control socket: one per lifeops command, in a private (0700) folder */
  controlPath: string;
  /** default: ssh's own (~/.ssh/known_hosts and the system one) */
  knownHostsFile?: string;
  /** default: ssh's own (agent, ~/.ssh/config) */
  identityFile?: string;
  /** seconds the master outlives its last client; lifeops closes it itself when a command ends */
  persistSeconds: number;
}

/** The options every ssh call of a command shares: the same master, batch mode, strict host keys. */
export function sshOptions(s: SshSettings, host: SshHost): string[] {
  return [
    '-o', 'ControlMaster=auto',
    '-o', `ControlPath=${s.controlPath}`,
    '-o', `ControlPersist=${s.persistSeconds}`,
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ConnectTimeout=10',
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=3',
    ...(s.knownHostsFile ? ['-o', `UserKnownHostsFile=${s.knownHostsFile}`] : []),
    ...(s.identityFile ? ['-i', s.identityFile, '-o', 'IdentitiesOnly=yes'] : []),
    ...(host.port ? ['-p', String(host.port)] : []),
  ];
}

/** A socket or port of the server made reachable on the operator's side, through the master. */
export interface Forward {
  local: string;
  remote: string;
}

/** Start the master: authenticate, set up the forwards, go to the background once they hold. */
export const sshMaster = (s: SshSettings, host: SshHost, forwards: Forward[]): string[] => [
  'ssh',
  ...sshOptions(s, host),
  '-o', 'ExitOnForwardFailure=yes',
  '-o', 'StreamLocalBindUnlink=yes',
  ...forwards.flatMap((f) => ['-L', `${f.local}:${f.remote}`]),
  '-f', '-N',
  host.destination,
];

/** Run argv on the server over the master; `--` so no word of it is read as an ssh option. */
export const sshRun = (s: SshSettings, host: SshHost, argv: string[]): string[] => ['ssh', ...sshOptions(s, host), host.destination, '--', remoteCommandLine(argv)];

/** Ask the master to stop (its forwards with it). */
export const sshExit = (s: SshSettings, host: SshHost): string[] => ['ssh', '-o', `ControlPath=${s.controlPath}`, '-O', 'exit', host.destination];

/** Add a forward to the running master. */
export const sshForward = (s: SshSettings, host: SshHost, f: Forward): string[] => ['ssh', '-o', `ControlPath=${s.controlPath}`, '-O', 'forward', '-L', `${f.local}:${f.remote}`, host.destination];

/** Ask the master whether it runs. */
export const sshCheck = (s: SshSettings, host: SshHost): string[] => ['ssh', '-o', `ControlPath=${s.controlPath}`, '-O', 'check', host.destination];

/** The server's host keys, as known_hosts lines (`[host]:port` for a port other than 22). */
export const sshKeyscan = (host: SshHost): string[] => ['ssh-keyscan', '-T', '10', ...(host.port ? ['-p', String(host.port)] : []), host.hostname];

/** The fingerprints of known_hosts lines read on stdin. */
export const sshFingerprints = (): string[] => ['ssh-keygen', '-l', '-f', '-'];

/** Whether `file` already pins a key for the host (exit 0 and the line when it does). */
export const sshKnownHostsFind = (host: SshHost, file: string): string[] => ['ssh-keygen', '-F', host.port ? `[${host.hostname}]:${host.port}` : host.hostname, '-f', file];

/** `sh -c SCRIPT sh ARGS...` for the server: the script fixed, its inputs as positional words. */
export const remoteScript = (script: string, args: string[]): string[] => ['sh', '-c', script, 'sh', ...args];

/**
 * A compose argv run on the operator's side against the server's engine:
 * relative paths in the compose files (bind mounts of rendered files) must
 * resolve to the server's copy of the release, so the project folder is the
 * server's. Any other argv is returned as it is.
 */
export function composeWithServerDir(argv: string[], serverDir: string): string[] {
  const prefix = argv[0] === 'docker' && argv[1] === 'compose' ? 2 : argv[0] === 'docker-compose' ? 1 : 0;
  if (!prefix) return argv;
  const at = argv.indexOf('--project-directory');
  if (at >= 0) return [...argv.slice(0, at + 1), serverDir, ...argv.slice(at + 2)];
  return [...argv.slice(0, prefix), '--project-directory', serverDir, ...argv.slice(prefix)];
}
