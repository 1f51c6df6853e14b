// The operator's OpenSSH, driven as a program (issue 26): ~/.ssh/config,
// ProxyJump, the agent and hashed known_hosts keep working because ssh itself
// reads them. One master connection per lifeops command; every later ssh call
// of that command rides on it (ControlMaster), and the server's Docker socket
// is forwarded through it to a socket in a private folder.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OperationError, UsageError } from '../errors.js';
import { run, runWithStdin, type RunResult } from './runner.js';
import { sshCheck, sshExit, sshForward, sshMaster, sshRun, type Forward, type SshHost, type SshSettings } from '../commands/ssh.js';

export class HostKeyError extends UsageError {}

/** From now on, every docker/compose process and engine call of this process uses `dockerHost` (a context would override it: dropped). */
export function useEngineForThisProcess(dockerHost: string): void {
  process.env.DOCKER_HOST = dockerHost;
  delete process.env.DOCKER_CONTEXT;
}

/** What ssh's stderr says about a host key it refused, as an exit-2 error naming the fix; undefined for any other failure. */
export function hostKeyRefusal(stderr: string, env: string, host: SshHost): HostKeyError | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) {
    return new HostKeyError(
      `the host key of ${host.hostname} (environment ${env}) is NOT the one pinned in known_hosts: refused (this can be a server reinstalled, or someone between you and it)`,
      `check the new key with the server's administrator; then remove the old entry (ssh-keygen -R ${host.hostname}) and run \`lifeops hosts trust ${env}\``,
    );
  }
  if (/Host key verification failed|host key is known for|No .* host key is known/i.test(stderr)) {
    return new HostKeyError(`the host key of ${host.hostname} (environment ${env}) is unknown: refused (StrictHostKeyChecking)`, `run \`lifeops hosts trust ${env}\` to see its fingerprint and pin it`);
  }
  return undefined;
}

export interface SshConnectionOptions {
  env: string;
  processEnv: Record<string, string | undefined>;
  /** the server's sockets made local (the Docker engine's) */
  forwardSockets?: { name: string; remote: string }[];
}

export class SshConnection {
  readonly settings: SshSettings;
  private readonly dir: string;
  private opened = false;

  constructor(
    readonly host: SshHost,
    private readonly o: SshConnectionOptions,
  ) {
    // a private folder: the control socket and forwarded sockets give whoever can reach them the server
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-ssh-'));
    chmodSync(this.dir, 0o700);
    this.settings = {
      controlPath: path.join(this.dir, 'master'),
      knownHostsFile: o.processEnv.LIFEOPS_SSH_KNOWN_HOSTS || undefined,
      identityFile: o.processEnv.LIFEOPS_SSH_IDENTITY || undefined,
      persistSeconds: 15,
    };
  }

  /** The local path of a forwarded server socket. */
  socket(name: string): string {
    return path.join(this.dir, `${name}.sock`);
  }

  /**
   * Connect (synchronously: the CLI does it once, before the command's flow).
   * A refused host key is a usage error (exit 2), naming `lifeops hosts trust`.
   */
  open(): void {
    const forwards: Forward[] = (this.o.forwardSockets ?? []).map((f) => ({ local: this.socket(f.name), remote: f.remote }));
    const argv = sshMaster(this.settings, this.host, forwards);
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.error) throw new OperationError(`could not run ssh: ${r.error.message}`, 'install the OpenSSH client (apt-get install openssh-client)');
    if (r.status !== 0) {
      this.cleanup();
      const stderr = String(r.stderr ?? '');
      throw hostKeyRefusal(stderr, this.o.env, this.host) ?? new OperationError(`could not connect to ${this.host.destination} (environment ${this.o.env}): ${stderr.trim().split('\n').slice(-3).join(' ') || `ssh exit ${r.status}`}`, 'check the host, your key (ssh-add -l) and `ssh ' + this.host.destination + '` by hand');
    }
    this.opened = true;
  }

  /** Run argv on the server; its result whatever the exit code (255: the connection itself failed). */
  async run(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(sshRun(this.settings, this.host, argv), { input: opts.input, timeoutMs: opts.timeoutMs });
  }

  /** Run argv on the server with a local file as its stdin (a bundle), streamed, never held in memory. */
  async runWithFile(argv: string[], file: string): Promise<RunResult> {
    const r = await runWithStdin(sshRun(this.settings, this.host, argv), { file });
    return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  /**
   * Start argv on the server and keep it running: resolves once it printed
   * `ready` on a line; `release` closes its stdin. For the server's lock.
   */
  hold(argv: string[], ready: string, onStderr: (line: string) => void): Promise<{ release: () => void; failure?: string }> {
    const full = sshRun(this.settings, this.host, argv);
    const child = spawn(full[0], full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    return new Promise((resolve) => {
      let out = '';
      let done = false;
      const release = () => {
        child.stdin.end();
      };
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!done && out.split('\n').includes(ready)) {
          done = true;
          resolve({ release });
        }
      });
      child.stderr.on('data', (d: Buffer) => d.toString().split('\n').filter(Boolean).forEach(onStderr));
      child.once('close', (code) => {
        if (!done) {
          done = true;
          resolve({ release, failure: out.trim() || `exit ${code}` });
        }
      });
    });
  }

  /** Forward one more socket or port through the master; false when ssh could not (a local port already taken). */
  tryForward(f: Forward): boolean {
    const argv = sshForward(this.settings, this.host, f);
    return spawnSync(argv[0], argv.slice(1), { timeout: 10_000, stdio: 'ignore' }).status === 0;
  }

  /** Whether the master still runs (the connection is up). */
  alive(): boolean {
    const argv = sshCheck(this.settings, this.host);
    return spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' }).status === 0;
  }

  /** Stop the master and remove the private folder. */
  close(): void {
    if (this.opened) {
      const argv = sshExit(this.settings, this.host);
      spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: 10_000 });
      this.opened = false;
    }
    this.cleanup();
  }

  private cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
