// A Docker Swarm through the docker CLI: the manager for cluster-wide calls
// (stack, services, nodes), each node's own engine for what happens on that
// node (images, the containers of its tasks: exec, dumps). Every command goes
// through the run's port, as a read or as a change: a dry run refuses the
// changes, a test records them.
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { OperationError } from '../errors.js';
import * as cmd from '../commands/swarm.js';
import type { ServiceSpecFacts, SwarmNode, SwarmTask } from '../commands/swarm.js';
import type { CommandOptions, CommandPort } from './port.js';

const jsonLines = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);

export class SwarmClient {
  constructor(
    readonly manager: string,
    readonly nodeEngines: Record<string, string>,
    private readonly port: CommandPort,
  ) {}

  /** a pause between polls, the port's (none in a dry run or a recording) */
  sleep(ms: number): Promise<void> {
    return this.port.sleep(ms);
  }

  /** a read that must succeed: its stdout */
  private async checked(argv: string[], what: string, opts: CommandOptions = {}): Promise<string> {
    const r = await this.port.read(argv, { timeoutMs: 120_000, ...opts });
    if (r.exitCode !== 0) throw new OperationError(`${what} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
    return r.stdout;
  }

  /** a change that must succeed: its stdout and stderr */
  private async change(argv: string[], what: string, opts: CommandOptions = {}): Promise<string> {
    const r = await this.port.change(argv, { timeoutMs: 120_000, ...opts, allowFailure: true });
    if (r.exitCode !== 0) throw new OperationError(`${what} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
    return `${r.stdout}\n${r.stderr}`.trim();
  }

  /** The engine of a node by hostname; an error naming the fix when lifeops has none. */
  engineOf(hostname: string): string {
    const e = this.nodeEngines[hostname];
    if (!e) throw new OperationError(`node ${hostname} runs a task lifeops must reach, but swarm.nodes names no engine for it`, `add it to the environment's swarm.nodes: { ${hostname}: ssh://user@${hostname} }`);
    return e;
  }

  async isManager(): Promise<boolean> {
    const r = await this.port.read(cmd.engineInfo(this.manager), { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new OperationError(`the Swarm manager ${this.manager} is not reachable: ${r.stderr.trim().split('\n').pop()}`, 'start the engine, or fix swarm.manager (for the test bed: make swarm)');
    const s = JSON.parse(r.stdout) as { LocalNodeState: string; ControlAvailable: boolean };
    return s.LocalNodeState === 'active' && s.ControlAvailable;
  }

  async nodes(): Promise<SwarmNode[]> {
    const ids = (await this.checked(cmd.nodeList(this.manager), 'docker node ls')).split('\n').filter(Boolean);
    if (!ids.length) return [];
    const raw = JSON.parse(await this.checked(cmd.nodeInspect(this.manager, ids), 'docker node inspect')) as {
      ID: string;
      Spec: { Role: 'manager' | 'worker'; Availability: string; Labels?: Record<string, string> };
      Status: { State: string };
      Description: { Hostname: string };
    }[];
    return raw.map((n) => ({ id: n.ID, hostname: n.Description.Hostname, role: n.Spec.Role, state: n.Status.State, availability: n.Spec.Availability, labels: n.Spec.Labels ?? {} }));
  }

  async hasImage(engine: string, image: string): Promise<boolean> {
    return (await this.port.read(cmd.imageId(engine, image), { timeoutMs: 30_000 })).exitCode === 0;
  }

  async stackDeploy(file: string, project: string, env: Record<string, string>, cwd: string): Promise<string> {
    return this.change(cmd.stackDeploy(this.manager, file, project), 'docker stack deploy', { env, cwd, timeoutMs: 300_000 });
  }

  async stackRm(project: string): Promise<void> {
    await this.change(cmd.stackRm(this.manager, project), 'docker stack rm');
  }

  async services(project: string): Promise<string[]> {
    return (await this.checked(cmd.stackServices(this.manager, project), 'docker service ls')).split('\n').filter(Boolean).sort();
  }

  async serviceSpecs(services: string[]): Promise<ServiceSpecFacts[]> {
    if (!services.length) return [];
    const raw = JSON.parse(await this.checked(cmd.serviceInspect(this.manager, services), 'docker service inspect')) as {
      Spec: {
        Name: string;
        Labels?: Record<string, string>;
        Mode: { Replicated?: { Replicas: number }; ReplicatedJob?: unknown };
        TaskTemplate: { ContainerSpec: { Image: string }; Placement?: { Constraints?: string[] } };
      };
      UpdateStatus?: { State?: string; Message?: string };
    }[];
    return raw.map((s) => ({
      name: s.Spec.Name,
      replicas: s.Spec.Mode.Replicated?.Replicas ?? 0,
      image: s.Spec.TaskTemplate.ContainerSpec.Image,
      updateState: s.UpdateStatus?.State ?? '',
      updateMessage: s.UpdateStatus?.Message ?? '',
      constraints: s.Spec.TaskTemplate.Placement?.Constraints ?? [],
      labels: s.Spec.Labels ?? {},
    }));
  }

  async tasks(service: string, all = false): Promise<SwarmTask[]> {
    return jsonLines<SwarmTask>(await this.checked(cmd.serviceTasks(this.manager, service, all), `docker service ps ${service}`));
  }

  /** The running container of a service's first running task, and the engine of the node it runs on. */
  async taskContainer(service: string): Promise<{ engine: string; container: string; node: string; task: string }> {
    const task = (await this.tasks(service)).find((t) => /^running/i.test(t.CurrentState));
    if (!task) throw new OperationError(`${service} has no running task`, `docker -H ${this.manager} service ps ${service}`);
    const engine = this.engineOf(task.Node);
    const container = (await this.checked(cmd.taskContainer(engine, task.ID), `docker ps on ${task.Node}`)).split('\n')[0]?.trim();
    if (!container) throw new OperationError(`the container of task ${task.Name} is not on node ${task.Node}'s engine`);
    return { engine, container, node: task.Node, task: task.ID };
  }

  /** A command in a task's container that only reads (pg_isready, a query): its exit code and output. */
  async exec(engine: string, container: string, command: string[], timeoutMs = 60_000): Promise<{ exitCode: number; output: string }> {
    const r = await this.port.read(cmd.execIn(engine, container, command), { timeoutMs });
    return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}`.trim() };
  }

  /** A command in a task's container that changes it (DROP DATABASE, redis SAVE): its exit code and output, for the caller to judge. */
  async execChange(engine: string, container: string, command: string[], timeoutMs = 60_000): Promise<{ exitCode: number; output: string }> {
    const r = await this.port.change(cmd.execIn(engine, container, command), { timeoutMs, allowFailure: true });
    return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}`.trim() };
  }

  /** stdout of a command in a container, streamed into a file (binary-safe). */
  async execToFile(engine: string, container: string, command: string[], file: string): Promise<void> {
    const out = await this.port.readStream(cmd.execIn(engine, container, command), [createWriteStream(file, { mode: 0o600 })]);
    if (out.exitCode !== 0 || out.pipeErr) throw new OperationError(`${command[0]} on ${engine} failed (exit ${out.exitCode}): ${out.stderrTail.trim()}`);
  }

  /** A file's bytes into a command's stdin in a container. */
  async execFromFile(engine: string, container: string, command: string[], file: string): Promise<string> {
    return this.port.changeFrom(cmd.execIn(engine, container, command, true), { file }, command[0]);
  }

  async execWithInput(engine: string, container: string, command: string[], input: string): Promise<string> {
    return this.port.changeFrom(cmd.execIn(engine, container, command, true), Readable.from([input]), command[0]);
  }

  async scale(scales: Record<string, number>): Promise<void> {
    await this.change(cmd.serviceScale(this.manager, scales), 'docker service scale');
  }

  async createJob(o: Parameters<typeof cmd.jobCreate>[1]): Promise<void> {
    await this.change(cmd.jobCreate(this.manager, o), `docker service create ${o.name}`);
  }

  async hasService(service: string): Promise<boolean> {
    return (await this.port.read(cmd.serviceInspect(this.manager, [service]), { timeoutMs: 60_000 })).exitCode === 0;
  }

  /** Removes the service if it is there (a job's leftover); a service that is not there is no change. */
  async removeService(service: string): Promise<void> {
    if (!(await this.hasService(service))) return;
    // best effort (it runs in a finally): a removal that fails leaves a leftover the next run removes
    await this.port.change(cmd.serviceRm(this.manager, service), { timeoutMs: 60_000, allowFailure: true });
  }

  async logs(service: string, tail?: number): Promise<string> {
    const r = await this.port.read(cmd.serviceLogs(this.manager, service, tail), { timeoutMs: 60_000 });
    return `${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}`.trim();
  }
}
