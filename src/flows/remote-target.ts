// An environment with `host:` runs on another machine (issue 26). For one
// lifeops command, one SSH master connection carries everything:
//  - the server's Docker socket, forwarded to a private local socket: the
//    docker and compose clients and the engine API calls of every flow talk
//    to the server's engine through it (DOCKER_HOST for this process);
//  - compose's project folder is the server's `current` release, so bind
//    mounts point at the server's copy of the rendered files, never ours;
//  - the release bundle (tar, sha256 checked on the server, unpacked into
//    releases/<id>, `current` switched by one rename);
//  - secret files, over stdin into 0600 files; the server's lock;
//  - the nginx front's fixed folder (each release's nginx files, the
//    maintenance page), which the front bind-mounts.
// What a remote environment cannot do yet is refused before connecting (exit 2).
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import type { Stack } from '../config/schema.js';
import { OperationError, UnhonouredOptionError, UsageError } from '../errors.js';
import { SshConnection, useEngineForThisProcess } from '../clients/ssh.js';
import { runChecked, setArgvAdjuster } from '../clients/runner.js';
import { composeWithServerDir, parseSshHost, type SshHost } from '../commands/ssh.js';
import { holdLock, probePort, publishBundle, serverEnvRoot, switchMaintenance, writeSecretFile } from '../commands/remote-scripts.js';
import { setPublishedPortReach } from '../clients/docker.js';
import { DEFAULT_REMOTE_ROOT, serverFrontDir } from '../config/remote-schema.js';
import { setPortProbe } from '../clients/ports.js';
import { ACTIVE_LINK } from '../state/maintenance.js';
import type { Effects } from './effects.js';

/** Commands (and sub-commands) that work on a remote environment; any other is refused with exit 2. */
const SUPPORTED = new Set(['deploy', 'plan', 'validate', 'render', 'status', 'health-check', 'logs', 'history', 'backup', 'backups list', 'backups show', 'backups verify', 'rollback', 'down', 'lock status', 'maintenance on', 'maintenance off', 'maintenance status']);
/** Options of supported commands that a remote environment cannot honour yet: command -> [option, why, what to do instead]. */
const REFUSED_OPTIONS: Record<string, [string, string, string][]> = {
  rollback: [
    ['--to', "point-in-time recovery reads the WAL archive through this host's paths", 'roll back to a backup (lifeops rollback <id>), or run --to on the server itself'],
  ],
  'backups verify': [['--offsite', 'the off-site check has not been tried against a remote environment', 'run it on the server itself, or from an environment without host:']],
};
const GLOBAL_WITH_VALUE = new Set(['-f', '--file', '--state-dir']);

/** The command the operator typed: `deploy`, `backups verify` ... (global options skipped). */
export function commandOf(argv: string[]): string {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    if (GLOBAL_WITH_VALUE.has(argv[i])) i++;
    else if (!argv[i].startsWith('-')) words.push(argv[i]);
  }
  return ['backups', 'lock', 'maintenance'].includes(words[0]) ? words.join(' ') : (words[0] ?? '');
}

export interface RemoteSettings {
  root: string;
  dockerSocket: string;
  lockWaitSeconds: number;
}

export function remoteSettings(stack: Stack): RemoteSettings {
  const r = stack.remote;
  const wait = r?.lock_wait ?? '60s';
  return { root: r?.root ?? DEFAULT_REMOTE_ROOT, dockerSocket: r?.docker_socket ?? '/var/run/docker.sock', lockWaitSeconds: Number(wait.slice(0, -1)) * (wait.endsWith('m') ? 60 : 1) };
}

/** Refuse what a remote environment cannot honour, before any connection: exit 2 naming the command. */
export function refuseOnRemote(stack: Stack, argv: string[]): void {
  const cmd = commandOf(argv);
  const where = `environment ${stack.env} runs on ${stack.host}`;
  if (!SUPPORTED.has(cmd)) throw new UnhonouredOptionError(`\`lifeops ${cmd}\` is not supported on a remote host yet (${where})`, `supported there: ${[...SUPPORTED].join(', ')}; run it on the server itself meanwhile`);
  for (const [option, why, instead] of REFUSED_OPTIONS[cmd] ?? []) {
    if (argv.some((a) => a === option || a.startsWith(`${option}=`))) throw new UnhonouredOptionError(`${cmd} ${option} is not supported on a remote host yet (${where}): ${why}; nothing was changed`, instead);
  }
}

export class RemoteTarget {
  readonly envRoot: string;
  /** server loopback port -> the port of this machine that reaches it */
  private readonly forwarded = new Map<number, number>();

  private constructor(
    readonly stack: Stack,
    readonly host: SshHost,
    readonly conn: SshConnection,
    readonly settings: RemoteSettings,
  ) {
    this.envRoot = serverEnvRoot(settings.root, stack.project);
  }

  /**
   * Connect (one master for the whole command) and point this process's
   * Docker clients at the server's engine; the server's published ports are
   * reached through forwards made on first use, and the pre-flight asks the
   * server whether a port is free.
   */
  static open(stack: Stack, env: Record<string, string | undefined>): RemoteTarget {
    const host = parseSshHost(stack.host!);
    if (!host) throw new UsageError(`environments.${stack.env}.host: "${stack.host}" is not an SSH address`, 'write ssh://user@server[:port] or a Host name of ~/.ssh/config');
    const settings = remoteSettings(stack);
    const conn = new SshConnection(host, { env: stack.env, processEnv: env, forwardSockets: [{ name: 'docker', remote: settings.dockerSocket }] });
    conn.open();
    const target = new RemoteTarget(stack, host, conn, settings);
    const dockerHost = `unix://${conn.socket('docker')}`;
    // every docker/compose process and engine API call of this command goes to the server
    useEngineForThisProcess(dockerHost);
    env.DOCKER_HOST = dockerHost;
    delete env.DOCKER_CONTEXT;
    // the stack's variables (compose's environment) captured ours at load: an operator's own DOCKER_HOST must not win
    if ('DOCKER_HOST' in stack.vars) stack.vars.DOCKER_HOST = dockerHost;
    delete stack.vars.DOCKER_CONTEXT;
    setArgvAdjuster((argv) => composeWithServerDir(argv, target.currentDir));
    setPublishedPortReach((port) => target.reach(port));
    setPortProbe((port) => target.portFree(port));
    return target;
  }

  /** The server's folder compose resolves relative paths against: the release in force. */
  get currentDir(): string {
    return `${this.envRoot}/current`;
  }

  /**
   * Whether the server's port is free for this stack: one a container of
   * this project publishes (forwarded when the containers were listed) is
   * ours; any other is asked on the server.
   */
  async portFree(port: number): Promise<boolean> {
    if (this.forwarded.has(port)) return true;
    const r = await this.conn.run(probePort(port));
    return r.stdout.trim() !== 'busy';
  }

  /**
   * The local port that reaches the server's loopback port `port` (the
   * engine's ephemeral ports for the datastores' checks): the same number
   * when it is free here, else another, forwarded on first use.
   */
  reach(port: number): number {
    const known = this.forwarded.get(port);
    if (known) return known;
    const candidates = [port, ...Array.from({ length: 8 }, () => 40000 + Math.floor(Math.random() * 20000))];
    const local = candidates.find((c) => this.conn.tryForward({ local: `127.0.0.1:${c}`, remote: `127.0.0.1:${port}` }));
    if (local === undefined) throw new OperationError(`could not forward the server's port ${port} to this machine`);
    this.forwarded.set(port, local);
    return local;
  }

  /**
   * Ship the rendered folder as a release bundle: tar (secret files and the
   * maintenance folder left out), sha256, checked on the server, unpacked
   * into releases/<id>, `current` switched. Secret files follow over stdin.
   */
  async publish(renderDir: string, releaseId: string): Promise<string> {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'lifeops-bundle-'));
    try {
      const bundle = path.join(scratch, 'bundle.tar');
      await runChecked(['tar', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', `--exclude=./${SECRETS_DIR}`, '--exclude=./nginx/maintenance', '-C', renderDir, '-cf', bundle, '.']);
      const sum = await sha256File(bundle);
      const r = await this.conn.runWithFile(publishBundle(this.envRoot, releaseId, sum, this.stack.front?.kind === 'nginx' ? serverFrontDir(this.stack) : ''), bundle);
      if (r.exitCode !== 0) throw new OperationError(`sending the release bundle to ${this.host.destination} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
      for (const file of secretFiles(renderDir)) {
        const w = await this.conn.run(writeSecretFile(`${this.envRoot}/releases/${releaseId}/${SECRETS_DIR}/${file}`), { input: readFileSync(path.join(renderDir, SECRETS_DIR, file), 'utf8') });
        if (w.exitCode !== 0) throw new OperationError(`writing secret file ${file} on ${this.host.destination} failed (exit ${w.exitCode})`);
      }
      return r.stdout.trim();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /**
   * Maintenance mode as this machine's maintenance folder now says (`active`
   * pointing at a page, or absent), made so on the server: the page's files
   * go over the connection as a tar on stdin into the front's folder there.
   */
  async publishMaintenance(localDir: string): Promise<void> {
    if (this.stack.front?.kind !== 'nginx') return;
    let folder = '';
    try {
      folder = readlinkSync(path.join(localDir, ACTIVE_LINK));
    } catch {
      /* off */
    }
    if (folder && !existsSync(path.join(localDir, folder, 'index.html'))) folder = '';
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'lifeops-maintenance-'));
    try {
      const pages = path.join(scratch, 'pages.tar');
      if (folder) await runChecked(['tar', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', path.join(localDir, folder), '-cf', pages, '.']);
      else writeFileSync(pages, '');
      const r = await this.conn.runWithFile(switchMaintenance(serverFrontDir(this.stack), folder), pages);
      if (r.exitCode !== 0) throw new OperationError(`switching maintenance mode ${folder ? 'on' : 'off'} on ${this.host.destination} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /**
   * The environment's lock on the server (one for every mutating command:
   * deploy, backup), held by this command's SSH session: a dead operator or
   * a dropped connection lets go of it. Waits up to remote.lock_wait for
   * another operator, then fails naming the holder.
   */
  async lock(command: string, say: (line: string) => void): Promise<() => void> {
    const holder = `${os.userInfo().username}@${os.hostname()} pid ${process.pid} (lifeops ${command})`;
    const held = await this.conn.hold(holdLock(`${this.envRoot}/locks`, this.stack.env, holder, this.settings.lockWaitSeconds), 'locked', (l) => say(`server lock: ${l}`));
    if (held.failure) {
      throw new OperationError(`the lock of ${this.stack.env} on ${this.host.destination} is ${held.failure.startsWith('held by') ? held.failure : `not available: ${held.failure}`}`, `wait for that run to end (remote.lock_wait is ${this.settings.lockWaitSeconds}s)`);
    }
    return held.release;
  }

  /** A failure while the SSH connection is gone: said as such (exit 1), with what the next run does. */
  explainLoss(e: unknown): OperationError | undefined {
    if (this.conn.alive()) return undefined;
    const msg = (e as Error)?.message?.split('\n')[0] ?? String(e);
    return new OperationError(
      `the SSH connection to ${this.host.destination} (environment ${this.stack.env}) was lost: ${msg}`,
      `run the command again once the server answers: the server's lock went with the connection, and the next deploy recovers what this run left (lifeops history shows it)`,
    );
  }

  close(): void {
    setArgvAdjuster(undefined);
    setPublishedPortReach(undefined);
    setPortProbe(undefined);
    this.conn.close();
  }
}

const SECRETS_DIR = 'alertmanager/secrets';

function secretFiles(renderDir: string): string[] {
  const dir = path.join(renderDir, SECRETS_DIR);
  return existsSync(dir) ? readdirSync(dir) : [];
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** The run's effects, plus shipping each release's rendered files and the maintenance page to the server. */
export function remoteEffects(base: Effects, target: RemoteTarget): Effects {
  return { ...base, publishRendered: (dir, id) => target.publish(dir, id).then(() => undefined), publishMaintenance: (dir) => target.publishMaintenance(dir) };
}
