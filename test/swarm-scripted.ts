// A swarm scripted for the recording effects port (no Docker): the answers a
// two-node swarm gives to the docker commands lifeops runs, and what its
// changes do (a stack deploy makes the stack file's services run; a job
// completes; a scale sets replicas). Used by the swarm flow tests in
// test/unit/swarm-*.test.ts.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'yaml';
import { loadStack } from '../src/config/load.js';
import type { Stack } from '../src/config/schema.js';
import type { DockerClient } from '../src/clients/docker.js';
import { Run } from '../src/flows/context.js';
import { RecordingEffects } from '../src/flows/effects.js';
import { placeOf } from '../src/target/index.js';
import { Redactor } from '../src/util/redact.js';
import { stateIdentity } from '../src/state/engine-lock.js';
import { ROOT } from './helpers.js';

interface ScriptedService {
  image: string;
  replicas: number;
  labels?: Record<string, string>;
  job?: boolean;
}

/** What the fingerprint query prints (flows/migrations.ts parseFingerprint): one digest per part, and the version tables seen. */
export const fingerprint = (tables: string): string => JSON.stringify({ parts: { tables: tables.repeat(32).slice(0, 32) }, version_tables: ['schema_migrations'] });

export class ScriptedSwarm {
  services = new Map<string, ScriptedService>();
  /** fingerprints the database answers, in turn (migrations that change the schema change it) */
  fingerprints: string[] = [];
  /** a command line matching this fails once */
  failOn?: RegExp;
  private failed = false;

  constructor(readonly project: string) {}

  /** the stack file `file` deployed: its services run, one task per replica, on their image */
  deployFile(file: string): void {
    const doc = parse(readFileSync(file, 'utf8'), { version: '1.1' }) as { services: Record<string, { image: string; deploy?: { replicas?: number; labels?: Record<string, string> } }> };
    for (const [name, s] of Object.entries(doc.services)) this.services.set(`${this.project}_${name}`, { image: s.image, replicas: s.deploy?.replicas ?? 1, labels: s.deploy?.labels ?? {} });
  }

  private tasks(name: string): string {
    const s = this.services.get(name);
    if (!s) return '';
    const n = s.job ? 1 : s.replicas;
    return Array.from({ length: n }, (_, i) =>
      JSON.stringify({ ID: `t-${name}-${i}`, Name: `${name}.${i + 1}`, Image: s.image, Node: i % 2 ? 'lsw2' : 'lsw1', DesiredState: s.job ? 'Complete' : 'Running', CurrentState: s.job ? 'Complete 1 second ago' : 'Running 5 seconds ago', Error: '' }),
    ).join('\n');
  }

  private inspect(names: string[]): string {
    return JSON.stringify(names.map((n) => ({ Spec: { Name: n, Labels: this.services.get(n)!.labels ?? {}, Mode: { Replicated: { Replicas: this.services.get(n)!.replicas } }, TaskTemplate: { ContainerSpec: { Image: this.services.get(n)!.image } } }, UpdateStatus: { State: 'completed' } })));
  }

  /** What the swarm answers to `argv` (docker -H HOST ...), and what a change does to it. */
  answer(argv: string[], kind: 'read' | 'change'): { exitCode?: number; stdout?: string; stderr?: string } | undefined {
    if (kind === 'change' && this.failOn?.test(argv.join(' ')) && !this.failed) {
      this.failed = true;
      return { exitCode: 1, stderr: 'scripted failure' };
    }
    if (argv[0] === 'GET') return undefined; // the front answers 200
    const a = argv.slice(3);
    const line = a.join(' ');
    if (a[0] === 'info') return { stdout: JSON.stringify({ LocalNodeState: 'active', ControlAvailable: true, Cluster: { ID: 'scripted-cluster' } }) };
    if (line.startsWith('node ls')) return { stdout: 'n1\nn2\n' };
    if (line.startsWith('node inspect')) {
      const node = (id: string, host: string, role: string, labels: Record<string, string>) => ({ ID: id, Spec: { Role: role, Availability: 'active', Labels: labels }, Status: { State: 'ready' }, Description: { Hostname: host } });
      return { stdout: JSON.stringify([node('n1', 'lsw1', 'manager', { 'lifeops.role': 'data' }), node('n2', 'lsw2', 'worker', {})]) };
    }
    if (line.startsWith('image inspect')) return { stdout: 'sha256:scripted' };
    if (line.startsWith('service ls')) return { stdout: [...this.services.keys()].filter((n) => !this.services.get(n)!.job).join('\n') };
    if (line.startsWith('service inspect')) {
      const names = a.slice(2);
      return names.every((n) => this.services.has(n)) ? { stdout: this.inspect(names) } : { exitCode: 1, stderr: `no such service: ${names.join(' ')}` };
    }
    if (line.startsWith('service ps')) return { stdout: this.tasks(a[a.length - 1]) };
    if (line.startsWith('service logs')) return { stdout: '' };
    if (a[0] === 'ps') return { stdout: `ctr-${/task\.id=t-(\S+)-\d+/.exec(line)?.[1] ?? 'x'}\n` };
    if (a[0] === 'exec') {
      if (line.includes('pg_isready')) return { stdout: 'accepting connections' };
      if (line.includes('pg_dump')) return { stdout: 'PGDMP scripted dump' };
      if (line.includes('psql') && line.includes('-At')) return { stdout: this.fingerprints.shift() ?? fingerprint('a') };
      if (line.includes('CONFIG GET dir')) return { stdout: 'dir\n/data\n' };
      if (line.includes('cat /data/dump.rdb')) return { stdout: 'REDIS0011 scripted' };
      if (line.includes('INFO persistence')) return { stdout: 'rdb_bgsave_in_progress:0\naof_rewrite_in_progress:0' };
      if (line.includes('SAVE') || line.includes('CONFIG SET')) return { stdout: 'OK' };
      return undefined;
    }
    if (kind === 'change') {
      if (line.startsWith('stack deploy')) this.deployFile(a[a.indexOf('-c') + 1]);
      else if (line.startsWith('service create')) this.services.set(a[a.indexOf('--name') + 1], { image: 'job', replicas: 1, job: true });
      else if (line.startsWith('service rm')) this.services.delete(a[2]);
      else if (line.startsWith('service scale')) for (const kv of a.slice(3)) this.services.get(kv.split('=')[0])!.replicas = Number(kv.split('=')[1]);
    }
    return undefined;
  }
}

/** The demo's swarm environment, a fresh state dir, a run on the recording port and a scripted swarm. */
export function swarmSetup(prefix: string, version = 'sw1'): { stack: Stack; stackAt: (version: string, owner?: string) => Stack; stateDir: string; swarm: ScriptedSwarm; rec: RecordingEffects; run: Run; newRun: () => Run } {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const stateDir = mkdtempSync(path.join(base, prefix));
  const stackAt = (v: string, owner = stateDir) => {
    const s = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'swarm', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-swarm-test' }, overrides: { VERSION: v } });
    // as the CLI loads it: the services it renders carry the state dir in charge
    s.owner = stateIdentity(owner);
    return s;
  };
  const stack = stackAt(version);
  const swarm = new ScriptedSwarm(stack.project);
  const rec = new RecordingEffects((argv, kind) => swarm.answer(argv, kind));
  // the state dir's recovery and ownership look at this host's engine: none of the stack's containers are there
  const engine = { projectContainers: async () => [], oneOffContainers: async () => [], engineId: async () => 'scripted-engine' } as unknown as DockerClient;
  const newRun = () => {
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: { LIFEOPS_LOCK_DIR: path.join(stateDir, 'engine-locks'), DOCKER_HOST: 'unix:///nonexistent' }, now: () => new Date(), verbose: false, json: false };
    const run = new Run(io, stateDir, new Redactor([]), 'test');
    run.effects = rec;
    run.useEngine(engine);
    // as the CLI does: the target says where the project lives (a swarm's services carry the labels)
    run.place = placeOf(stack);
    return run;
  };
  return { stack, stackAt, stateDir, swarm, rec, run: newRun(), newRun };
}
