// The Docker engine through dockerode: containers found by compose labels,
// never by name (compose v1 writes proj_svc_1, v2 proj-svc-1).
import { createRequire } from 'node:module';
import http from 'node:http';
import { setMaxListeners } from 'node:events';
import type Docker from 'dockerode';
import { OperationError } from '../errors.js';

export interface ContainerState {
  id: string;
  name: string;
  service: string;
  number: number;
  image: string;
  /** sha256 id of the image the container was created from */
  imageId: string;
  state: string; // running, exited, restarting, created ...
  health: 'healthy' | 'unhealthy' | 'starting' | 'none';
  startedAt?: string;
  /** when the container was created (ISO) */
  created?: string;
  restarts: number;
  exitCode?: number;
  /** host ports published on 127.0.0.1 (or 0.0.0.0), container port -> host port */
  ports: Record<number, number>;
  labels: Record<string, string>;
}

// Loaded on first use: `lifeops --version`, render and schema never pay for it.
const requireLazy = createRequire(import.meta.url);

/** Where the engine listens: DOCKER_HOST (unix:// or plain tcp://), else the default socket. */
function engineAddress(env = process.env): { socketPath: string } | { host: string; port: number } | undefined {
  const h = env.DOCKER_HOST;
  if (!h) return { socketPath: '/var/run/docker.sock' };
  if (h.startsWith('unix://')) return { socketPath: h.slice('unix://'.length) };
  const m = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(h);
  if (m && !env.DOCKER_TLS_VERIFY) return { host: m[1], port: Number(m[2]) };
  return undefined; // TLS or ssh: dockerode handles those
}

class EngineHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One call of the Engine API, the raw body out. The calls status and an
 * unchanged deploy make (inspect, list, exec) go through this instead of
 * dockerode, whose module graph (ssh2, grpc) takes 0.3-0.8 s to load. A body
 * without a length (exec output) is read until the engine closes it.
 */
function engineCall(method: 'GET' | 'POST', urlPath: string, body?: unknown, timeoutMs = 30_000, signal?: AbortSignal, onSent?: () => void): Promise<Buffer> {
  const addr = engineAddress();
  if (!addr) return Promise.reject(new Error('DOCKER_HOST needs dockerode'));
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<Buffer>((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
    const req = http.request({ ...addr, method, path: urlPath, headers, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(deadline);
        const raw = Buffer.concat(chunks);
        if ((res.statusCode ?? 500) >= 300) return reject(new EngineHttpError(res.statusCode ?? 500, `${urlPath}: ${res.statusCode} ${raw.toString('utf8').trim().slice(0, 200)}`));
        resolve(raw);
      });
      res.on('error', (e) => (clearTimeout(deadline), reject(e)));
    });
    // a deadline for the whole call, not an idle timeout: exec output may keep trickling
    const deadline = setTimeout(() => {
      reject(new Error(`no answer from the engine in ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => (clearTimeout(deadline), reject(e)));
    if (onSent) req.on('finish', onSent); // the whole request handed to the socket
    req.end(payload);
  });
}

async function engineGet<T>(urlPath: string, timeoutMs = 30_000, signal?: AbortSignal): Promise<T> {
  return JSON.parse((await engineCall('GET', urlPath, undefined, timeoutMs, signal)).toString('utf8')) as T;
}

const directEngine = () => engineAddress() !== undefined;

/** One `exec` a caller asked for: the container and the command. */
export interface ExecAsked {
  id: string;
  cmd: string[];
}

export class DockerClient {
  private client?: Docker;
  /** calls started before anyone asked (startEarly), each taken once by the identical call */
  private early = new Map<string, Promise<unknown>>();
  private earlyAbort?: AbortController;
  /** set by a caller that wants the execs it asked for (status remembers them for its next run) */
  execsAsked?: ExecAsked[];

  constructor(api?: Docker) {
    this.client = api;
  }

  /**
   * Starts, before they are asked for, the container list of `project` and
   * the `execs` (status: its last run's probes, while it loads the stack).
   * An identical call later takes the answer under way instead of asking
   * again; one nobody asks for is dropped by dropEarly. Only with the Engine
   * API at hand (the default socket or plain tcp://).
   */
  startEarly(project: string | undefined, execs: ExecAsked[], timeoutMs = 10_000): Promise<void> {
    if (!directEngine()) return Promise.resolve();
    if (!this.earlyAbort) {
      this.earlyAbort = new AbortController();
      // One signal on purpose, shared by every early call (the list, one
      // inspect per container, each exec's requests) so that dropEarly cancels
      // them all at once. Each request adds an abort listener and removes it
      // when it ends, so the count follows the calls in flight, which passes
      // Node's default of 10 on a stack with more than ten containers and
      // checks: without this, `status` printed MaxListenersExceededWarning.
      setMaxListeners(0, this.earlyAbort.signal);
    }
    const signal = this.earlyAbort.signal;
    const keep = (key: string, p: Promise<unknown>) => {
      p.catch(() => undefined); // an answer nobody takes is no unhandled rejection
      this.early.set(key, p);
    };
    if (project) keep(`containers:${project}`, this.listProject(project, true, timeoutMs, signal));
    const started = execs.map((e) => {
      let sent!: () => void;
      const started = new Promise<void>((resolve) => (sent = resolve));
      const p = this.execDirect(e.id, e.cmd, timeoutMs, signal, sent);
      keep(`exec:${e.id}:${JSON.stringify(e.cmd)}`, p);
      return Promise.race([started, p.then(() => undefined, () => undefined)]);
    });
    // resolves once every early exec runs in its container (its start request sent) or failed
    return Promise.all(started).then(() => undefined);
  }

  /** Cancels what startEarly started and nobody took. */
  dropEarly(): void {
    this.early.clear();
    this.earlyAbort?.abort();
    this.earlyAbort = undefined;
  }

  /** The early answer of `key`, under the taker's own deadline (counted from when it asks, as its own call would be). */
  private takeEarly<T>(key: string, timeoutMs: number, late: string): Promise<T> | undefined {
    const p = this.early.get(key) as Promise<T> | undefined;
    if (!p) return undefined;
    this.early.delete(key);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(late)), timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  get api(): Docker {
    this.client ??= new (requireLazy('dockerode') as typeof Docker)();
    return this.client;
  }

  async ping(timeoutMs = 10_000): Promise<string> {
    try {
      const v = directEngine() ? await engineGet<{ Version: string }>('/version', timeoutMs) : await this.api.version();
      return v.Version;
    } catch (e) {
      throw new OperationError(
        `the Docker engine is not reachable (${(e as Error).message})`,
        'start it (`dockerd &`, or `systemctl start docker`) or set DOCKER_HOST',
      );
    }
  }

  /** Where the engine keeps its data (images, containers, volumes). */
  async dataRoot(timeoutMs = 10_000): Promise<string> {
    const info = directEngine() ? await engineGet<{ DockerRootDir: string }>('/info', timeoutMs) : await this.api.info();
    return info.DockerRootDir;
  }

  /** The engine's own id: what the engine-wide lock of a compose project is keyed by. */
  async engineId(timeoutMs = 10_000): Promise<string> {
    const info: { ID: string } = directEngine() ? await engineGet('/info', timeoutMs) : await this.api.info();
    return info.ID;
  }

  async projectContainers(project: string, all = true, timeoutMs = 30_000): Promise<ContainerState[]> {
    return (all && this.takeEarly<ContainerState[]>(`containers:${project}`, timeoutMs, `no answer from the engine in ${timeoutMs} ms`)) || this.listProject(project, all, timeoutMs);
  }

  private async listProject(project: string, all: boolean, timeoutMs: number, signal?: AbortSignal): Promise<ContainerState[]> {
    const filters = { label: [`com.docker.compose.project=${project}`] };
    const list = directEngine()
      ? await engineGet<{ Id: string }[]>(`/containers/json?all=${all ? 1 : 0}&filters=${encodeURIComponent(JSON.stringify(filters))}`, timeoutMs, signal)
      : await this.api.listContainers({ all, filters });
    const states = await Promise.all(
      list.map((c) => (directEngine() ? engineGet<Docker.ContainerInspectInfo>(`/containers/${encodeURIComponent(c.Id)}/json`, timeoutMs, signal).then(toState) : this.inspect(c.Id, timeoutMs)).catch(() => undefined)),
    );
    return states
      .filter((s): s is ContainerState => s !== undefined) // removed between the list and the inspect
      .filter((s) => s.labels['com.docker.compose.oneoff'] !== 'True')
      .sort((a, b) => a.service.localeCompare(b.service) || a.number - b.number);
  }

  /**
   * The one-off containers of a project, running or not: compose `run`
   * containers (label com.docker.compose.oneoff=True) and the ones lifeops
   * starts itself with the labels lifeops.project and lifeops.oneoff.
   */
  async oneOffContainers(project: string): Promise<ContainerState[]> {
    const list = async (labels: string[]) => {
      const filters = { label: labels };
      return directEngine()
        ? await engineGet<{ Id: string }[]>(`/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(filters))}`)
        : await this.api.listContainers({ all: true, filters });
    };
    const found = [...(await list([`com.docker.compose.project=${project}`, 'com.docker.compose.oneoff=True'])), ...(await list([`lifeops.project=${project}`, 'lifeops.oneoff']))];
    const ids = [...new Set(found.map((c) => c.Id))];
    const states = await Promise.all(ids.map((id) => this.inspect(id).catch(() => undefined)));
    return states.filter((s): s is ContainerState => s !== undefined);
  }

  async inspect(id: string, timeoutMs = 30_000): Promise<ContainerState> {
    if (directEngine()) return toState(await engineGet<Docker.ContainerInspectInfo>(`/containers/${encodeURIComponent(id)}/json`, timeoutMs));
    return toState(await this.api.getContainer(id).inspect());
  }

  async logs(id: string, tail: number): Promise<string> {
    const buf = (await this.api.getContainer(id).logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    return demux(buf);
  }

  async exec(id: string, cmd: string[], timeoutMs = 10_000): Promise<{ exitCode: number; output: string }> {
    this.execsAsked?.push({ id, cmd });
    if (directEngine()) return this.takeEarly<{ exitCode: number; output: string }>(`exec:${id}:${JSON.stringify(cmd)}`, timeoutMs, `timed out after ${timeoutMs} ms: ${cmd.join(' ')}`) ?? this.execDirect(id, cmd, timeoutMs);
    const exec = await this.api.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new Error(`timed out after ${timeoutMs} ms: ${cmd.join(' ')}`));
      }, timeoutMs);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => (clearTimeout(timer), resolve()));
      stream.on('error', (e) => (clearTimeout(timer), reject(e)));
    });
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output: demux(Buffer.concat(chunks)) };
  }

  private async execDirect(id: string, cmd: string[], timeoutMs: number, signal?: AbortSignal, onStarted?: () => void): Promise<{ exitCode: number; output: string }> {
    const created = JSON.parse((await engineCall('POST', `/containers/${encodeURIComponent(id)}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true }, timeoutMs, signal)).toString('utf8')) as { Id: string };
    let output: Buffer;
    try {
      output = await engineCall('POST', `/exec/${created.Id}/start`, { Detach: false, Tty: false }, timeoutMs, signal, onStarted);
    } catch (e) {
      if ((e as Error).message.startsWith('no answer from the engine')) throw new Error(`timed out after ${timeoutMs} ms: ${cmd.join(' ')}`);
      throw e;
    }
    const info = await engineGet<{ ExitCode: number | null }>(`/exec/${created.Id}/json`, timeoutMs, signal);
    return { exitCode: info.ExitCode ?? -1, output: demux(output) };
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.imageId(ref)) !== undefined;
  }

  async imageId(ref: string): Promise<string | undefined> {
    try {
      if (directEngine()) return (await engineGet<{ Id: string }>(`/images/${encodeURIComponent(ref)}/json`)).Id;
      return (await this.api.getImage(ref).inspect()).Id;
    } catch (e) {
      if (e instanceof EngineHttpError && e.status !== 404) throw e;
      if (!(e instanceof EngineHttpError) && directEngine() && (e as NodeJS.ErrnoException).code) throw e; // engine unreachable: not "no such image"
      return undefined;
    }
  }
}

/**
 * Where this process reaches a port the engine published on its host's
 * loopback: the same port here, unless the engine is a remote server's
 * (forwarded through the SSH connection to a port of this machine).
 */
let reachPublished: (hostPort: number) => number = (p) => p;
export function setPublishedPortReach(fn: ((hostPort: number) => number) | undefined): void {
  reachPublished = fn ?? ((p) => p);
}

/** The port of this machine that reaches `hostPort` of the engine's host (see setPublishedPortReach). */
export const reachPublishedPort = (hostPort: number): number => reachPublished(hostPort);

function toState(info: Docker.ContainerInspectInfo): ContainerState {
  const labels = info.Config.Labels ?? {};
  const ports: Record<number, number> = {};
  for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const hostPort = bindings?.find((b) => b.HostIp === '127.0.0.1' || b.HostIp === '0.0.0.0' || b.HostIp === '')?.HostPort;
    if (hostPort) ports[Number(key.split('/')[0])] = reachPublished(Number(hostPort));
  }
  const health = (info.State.Health?.Status as ContainerState['health'] | undefined) ?? 'none';
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    service: labels['com.docker.compose.service'] ?? '?',
    number: Number(labels['com.docker.compose.container-number'] ?? 1),
    image: info.Config.Image,
    imageId: info.Image,
    state: info.State.Status,
    health,
    startedAt: info.State.StartedAt,
    created: info.Created,
    restarts: info.RestartCount ?? 0,
    exitCode: info.State.ExitCode,
    ports,
    labels,
  };
}

/** Docker multiplexes stdout/stderr with 8-byte frame headers when there is no TTY. */
export function demux(buf: Buffer): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2 || buf[i] === 0) && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  if (i === 0) return buf.toString('utf8');
  return Buffer.concat(out).toString('utf8');
}
