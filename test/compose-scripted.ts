// A compose project scripted for the recording effects port (no Docker): the
// demo stack's containers on an engine that answers what a backup, a restore
// and a rollback ask (docker volume ls, psql's snapshot session, pg_dump,
// redis-cli, a volume's tar, the engine API's container archive), and what
// their changes do (docker tag moves an image tag; BGSAVE moves LASTSAVE).
// Used by test/unit/rollback-flow.test.ts, restore-flow.test.ts, down-flow.test.ts
// and pitr-rollback-flow.test.ts.
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { loadStack } from '../src/config/load.js';
import type { Stack } from '../src/config/schema.js';
import type { ComposeCli } from '../src/commands/compose.js';
import type { ContainerState, DockerClient } from '../src/clients/docker.js';
import { Run } from '../src/flows/context.js';
import { RecordingEffects } from '../src/flows/effects.js';
import { renderStack, writeRendered } from '../src/flows/render.js';
import { renderDir as renderDirFor } from '../src/state/paths.js';
import { stateIdentity } from '../src/state/engine-lock.js';
import { Redactor } from '../src/util/redact.js';
import { ROOT } from './helpers.js';

export const V2: ComposeCli = { kind: 'v2', argv: ['docker', 'compose'], version: '2.26.1' };
/** the marked volume the tests back up (backup.volumes), and the one file it holds */
export const UPLOADS = { name: 'uploads', file: 'a.txt', content: 'scripted upload\n' };

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A tar of one ASCII file (ASCII through and through: it survives the recording port's string answers). */
function tarOf(name: string, content: string): string {
  const dir = mkdtempSync(path.join(ROOT, '.tmp-tests', 'tar-'));
  writeFileSync(path.join(dir, name), content);
  return execFileSync('tar', ['--format=ustar', '--owner=0', '--group=0', '--mtime=2026-01-01', '-C', dir, '-cf', '-', name]).toString('latin1');
}

export class ScriptedCompose {
  containers: ContainerState[];
  /** image reference -> id, as `docker image inspect` would say; docker tag moves them */
  images = new Map<string, string>();
  volumes = new Set<string>();
  /** a changing command line matching this fails (once) */
  failOn?: RegExp;
  failed?: string;
  /** the off-site repository's one copy: restic lists it and restores this folder */
  offsite?: { id: string; snapshot: string; folder: string };
  /** the deploy's pre-flight asks the engine for its version: this refusal instead, where a test stops */
  pingRefusal?: string;
  /** a test's own answers, asked before the engine's (a point-in-time recovery's psql and docker inspect) */
  script?: (argv: string[], kind: 'read' | 'change') => { exitCode?: number; stdout?: string; stderr?: string } | undefined;
  /** what an exec through the engine API answers (default: exit 0, nothing said) */
  execAnswer?: (id: string, cmd: string[]) => { exitCode: number; output: string } | undefined;
  private lastSave = 1_700_000_000;
  private seq = 0;
  private readonly volumeTar = tarOf(UPLOADS.file, UPLOADS.content);

  constructor(readonly stack: Stack) {
    this.containers = Object.keys(stack.services).map((name) => this.container(name));
    for (const c of this.containers) this.images.set(c.image, c.imageId);
    this.volumes = new Set([`${stack.project}_pgdata`, `${stack.project}_redisdata`, `${stack.project}_${UPLOADS.name}`]);
  }

  /** a running, healthy container of `service` on its image (one id per image: web and worker run the same build) */
  private container(service: string): ContainerState {
    const n = ++this.seq;
    const image = this.stack.services[service].image;
    return { id: `c${n}-${service}`, name: `${this.stack.project}-${service}-1`, service, number: 1, image, imageId: this.images.get(image) ?? `sha256:${image.replace(/[^a-z0-9]/g, '')}`, state: 'running', health: 'healthy', restarts: 0, ports: {}, labels: { 'com.docker.compose.service': service } };
  }

  /** a new host: no container, no volume of the project */
  empty(): void {
    this.containers = [];
    this.volumes.clear();
  }

  /** the app's image (web and worker run it) */
  get appImage(): string {
    return this.stack.services.web.image;
  }

  /** a deploy of another build of the app: web and worker on a new image id */
  newAppBuild(id: string): void {
    this.images.set(this.appImage, id);
    for (const c of this.containers) if (c.image === this.appImage) c.imageId = id;
  }

  /** What the engine and the containers answer to `argv`, and what a change does. */
  answer(argv: string[], kind: 'read' | 'change'): { exitCode?: number; stdout?: string; stderr?: string } | undefined {
    const line = argv.join(' ');
    if (kind === 'change' && this.failOn?.test(line) && !this.failed) {
      this.failed = line;
      return { exitCode: 1, stderr: 'scripted failure' };
    }
    const scripted = this.script?.(argv, kind);
    if (scripted) return scripted;
    if (line === 'docker volume ls -q') return { stdout: [...this.volumes].join('\n') };
    if (argv[0] === 'restic') return this.restic(argv);
    if (kind === 'change' && argv[1] === 'compose' && argv.includes('up')) {
      // compose up of named services creates those that have no container (and their volumes)
      for (const svc of argv.slice(argv.indexOf('up') + 1).filter((x) => !x.startsWith('-'))) {
        if (!this.containers.some((c) => c.service === svc)) this.containers.push(this.container(svc));
      }
    }
    if (argv.includes('psql')) {
      const sql = argv[argv.length - 1];
      if (sql.includes('pg_export_snapshot')) return { stdout: '00000003-00000002-1\n' };
      if (sql.includes('pg_tables')) return { stdout: 'public.items|3\n' };
      return undefined;
    }
    if (line.includes('exec pg_dump')) return { stdout: 'PGDMP scripted dump' };
    if (line.includes('pg_dumpall')) return { stdout: '-- roles\n' };
    if (argv.includes('redis-cli')) {
      const cmd = argv.slice(argv.indexOf('redis-cli') + 1).join(' ');
      if (cmd === 'INFO persistence') return { stdout: 'rdb_bgsave_in_progress:0\naof_rewrite_in_progress:0\nrdb_last_bgsave_status:ok' };
      if (cmd === 'TIME') return { stdout: `${this.lastSave + 1}\n0` };
      if (cmd === 'LASTSAVE') return { stdout: String(this.lastSave) };
      if (cmd === 'BGSAVE') {
        this.lastSave += 2;
        return { stdout: 'Background saving started' };
      }
      if (cmd.startsWith('CONFIG GET')) return { stdout: `${argv.at(-1)}\n${{ dir: '/data', dbfilename: 'dump.rdb', appendonly: 'no' }[argv.at(-1)!] ?? ''}` };
      if (cmd === 'PING') return { stdout: 'PONG' };
    }
    if (line.includes('tar -C /v -cf - .')) return { stdout: this.volumeTar };
    if (line.includes('tar -C /v -xf -')) return { stdout: `${sha256(UPLOADS.content)}  ./${UPLOADS.file}\n` };
    if (kind === 'change' && argv[0] === 'docker' && argv[1] === 'tag') {
      this.images.set(argv[3], argv[2]);
      for (const c of this.containers) if (c.image === argv[3]) c.imageId = argv[2];
    }
    return undefined;
  }

  /** restic against the scripted repository: it opens, lists the one copy, restores it into --target */
  private restic(argv: string[]): { exitCode?: number; stdout?: string; stderr?: string } | undefined {
    const copy = this.offsite;
    if (argv.includes('snapshots')) {
      const tags = copy ? ['lifeops', `project=${this.stack.project}`, `env=${this.stack.env}`, `backup=${copy.id}`] : [];
      return { stdout: JSON.stringify(copy ? [{ id: `${copy.snapshot}full`, short_id: copy.snapshot, time: '2026-01-01T00:00:00Z', tags }] : []) };
    }
    if (argv.includes('restore') && copy) cpSync(copy.folder, path.join(argv[argv.indexOf('--target') + 1], copy.id), { recursive: true });
    return undefined;
  }

  asClient(): DockerClient {
    const archive = (text: string) => Readable.from([Buffer.from(text)]);
    return {
      projectContainers: async () => this.containers.map((c) => ({ ...c })),
      oneOffContainers: async () => [],
      inspect: async (id: string) => ({ ...this.containers.find((c) => c.id === id)! }),
      engineId: async () => 'scripted-engine',
      ping: async () => {
        if (this.pingRefusal) throw new Error(this.pingRefusal);
        return '20.10.24';
      },
      imageId: async (ref: string) => this.images.get(ref),
      imageExists: async (ref: string) => this.images.has(ref) || [...this.images.values()].includes(ref) || ref.startsWith('sha256:'),
      // nginx -t in the front before its reload
      exec: async (id: string, cmd: string[]) => this.execAnswer?.(id, cmd) ?? { exitCode: 0, output: '' },
      logs: async () => '',
      api: {
        getContainer: () => ({
          inspect: async () => ({ State: { Running: true }, Mounts: [{ Destination: '/data', Name: `${this.stack.project}_redisdata` }] }),
          getArchive: async () => archive('REDIS0011 scripted dump.rdb in a tar'),
        }),
        getVolume: (name: string) => ({
          inspect: async () => {
            if (!this.volumes.has(name)) throw new Error(`no such volume: ${name}`);
            return { Name: name };
          },
        }),
      },
    } as unknown as DockerClient;
  }
}

export interface ComposeSetup {
  stack: Stack;
  stateDir: string;
  engine: ScriptedCompose;
  rec: RecordingEffects;
  newRun: () => Run;
  /** write the stack's rendered files as the release in force (a deploy's), with VERSION set */
  renderRelease: (version: string) => void;
}

/** The demo's local environment with one marked volume, a fresh state dir, a scripted engine and a recording port; a release rendered. */
export function composeSetup(prefix: string, processEnv: Record<string, string> = {}): ComposeSetup {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const stateDir = mkdtempSync(path.join(base, prefix));
  const load = (version: string) => {
    const s = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-rollback-test', ...processEnv }, overrides: { VERSION: version } });
    s.owner = stateIdentity(stateDir);
    s.backup.volumes = [UPLOADS.name];
    return s;
  };
  const stack = load('v1');
  const engine = new ScriptedCompose(stack);
  const rec = new RecordingEffects((argv, kind) => engine.answer(argv, kind));
  const renderRelease = (version: string) => {
    const dir = renderDirFor(stateDir, stack.env);
    writeRendered(renderStack(load(version), dir), dir);
  };
  renderRelease('v1');
  const newRun = () => {
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: { LIFEOPS_LOCK_DIR: path.join(stateDir, 'engine-locks'), DOCKER_HOST: 'unix:///nonexistent', ...processEnv }, now: () => new Date(), verbose: false, json: false };
    const run = new Run(io, stateDir, new Redactor([]), 'test');
    run.effects = rec;
    run.useEngine(engine.asClient());
    run.useCompose(V2);
    return run;
  };
  return { stack, stateDir, engine, rec, newRun, renderRelease };
}

/** A changing call, shortened to what it does ("compose stop web worker front", "postgres restore beside from ID", "docker tag"), with the backup it reads from. */
export function what(call: { argv: string[]; input?: string }): string {
  const a = call.argv;
  const line = a.join(' ');
  // <backup dir>/<id>/postgres/demo.dump: the backup's id
  const from = call.input ? ` from ${path.basename(path.dirname(path.dirname(call.input)))}` : '';
  if (a[0] === 'restic') return `restic ${['restore', 'snapshots', 'backup', 'forget'].find((v) => a.includes(v)) ?? a.at(-1)}`;
  if (a[1] === 'compose') {
    const verb = a.find((x) => ['up', 'start', 'stop'].includes(x))!;
    const named = a.slice(a.indexOf(verb) + 1).filter((x) => !x.startsWith('-'));
    return `compose ${verb}${named.length ? ` ${named.join(' ')}` : ''}`;
  }
  if (line.includes('--network container:')) return `postgres restore beside${from}`;
  if (a[1] === 'exec' && a.includes('LIFEOPS_PRE')) return `postgres restore inside${from}`;
  if (a[1] === 'exec' && a.includes('redis-cli')) return `redis-cli ${a.slice(a.indexOf('redis-cli') + 1).join(' ')}`;
  if (a[1] === 'exec' && a.includes('nginx')) return 'nginx reload';
  if (line.includes('tar -C /v -xf -')) return `volume restore${from}`;
  if (line.includes('appendonlydir')) return 'clear the redis AOF';
  if (a[1] === 'cp') return `redis files${from}`;
  return a.slice(0, 2).join(' ');
}
