// Pure argv builders for docker compose (v2 plugin or v1 binary) and docker.
// The runner executes exactly these; --dry-run prints them.
import type { Stack } from '../config/schema.js';
import { mapImage } from '../config/images.js';

export interface ComposeCli {
  kind: 'v2' | 'v1';
  /** argv prefix: ['docker', 'compose'] or ['docker-compose'] */
  argv: string[];
  version: string;
}

export interface ComposeTarget {
  project: string;
  /** compose files, absolute, base first */
  files: string[];
  /**
   * where relative paths in the files resolve (default: the first file's
   * folder). Planning hashes a copy of the files in a scratch folder against
   * the real render folder, so nothing in force changes before the plan is made.
   */
  projectDir?: string;
}

export function composeBase(cli: ComposeCli, target: ComposeTarget): string[] {
  // v1 needs --compatibility to honour deploy.resources and deploy.replicas.
  const compat = cli.kind === 'v1' ? ['--compatibility'] : [];
  const dir = target.projectDir ? ['--project-directory', target.projectDir] : [];
  return [...cli.argv, ...compat, '-p', target.project, ...dir, ...target.files.flatMap((f) => ['-f', f])];
}

export const composeConfig = (cli: ComposeCli, t: ComposeTarget) => [...composeBase(cli, t), 'config', '-q'];

export const composeUp = (cli: ComposeCli, t: ComposeTarget, services: string[] = []) => [
  ...composeBase(cli, t),
  'up',
  '-d',
  '--remove-orphans',
  ...services,
];

/**
 * Leave a service's dependencies alone. Only v1 gets `--no-deps`: compose v2
 * hashes depends_on into the config-hash label and `--no-deps` drops it before
 * hashing, so a container made that way never matches `config --hash`; the
 * next `up` recreates it and, v2 recreating the dependents of whatever it
 * recreates, the front with it. On v2, `--no-recreate` and naming the services
 * already keep the dependencies untouched (started only if stopped).
 */
const noDeps = (cli: ComposeCli) => (cli.kind === 'v1' ? ['--no-deps'] : []);

export const composeScale = (cli: ComposeCli, t: ComposeTarget, service: string, count: number) => [
  ...composeBase(cli, t),
  'up',
  '-d',
  ...noDeps(cli),
  '--no-recreate',
  '--scale',
  `${service}=${count}`,
  service,
];

export const composeDown = (cli: ComposeCli, t: ComposeTarget, volumes: boolean) => [
  ...composeBase(cli, t),
  'down',
  '--remove-orphans',
  ...(volumes ? ['--volumes'] : []),
];

export const composeStop = (cli: ComposeCli, t: ComposeTarget, services: string[], timeoutSeconds?: number) => [
  ...composeBase(cli, t),
  'stop',
  ...(timeoutSeconds !== undefined ? ['-t', String(timeoutSeconds)] : []),
  ...services,
];

export const composeStart = (cli: ComposeCli, t: ComposeTarget, services: string[]) => [...composeBase(cli, t), 'start', ...services];

/** `up -d --no-recreate`: start the named services' containers as they are, create only the missing ones (v1 needs --no-deps: it would recreate dependencies). */
export const composeStartAsIs = (cli: ComposeCli, t: ComposeTarget, services: string[]) => [...composeBase(cli, t), 'up', '-d', ...noDeps(cli), '--no-recreate', ...services];

export const composeRun = (cli: ComposeCli, t: ComposeTarget, service: string, command: string[]) => [
  ...composeBase(cli, t),
  'run',
  '--rm',
  '--no-deps',
  '-T',
  service,
  ...command,
];

export const composeLogs = (cli: ComposeCli, t: ComposeTarget, opts: { service?: string; follow?: boolean; tail?: number }) => [
  ...composeBase(cli, t),
  'logs',
  '--no-color',
  ...(opts.follow ? ['--follow'] : []),
  ...(opts.tail !== undefined ? ['--tail', String(opts.tail)] : []),
  ...(opts.service ? [opts.service] : []),
];

/**
 * `docker build`. An arg named in `fromEnv` (one whose value is a secret) goes
 * as `--build-arg NAME` alone: docker takes its value from its own
 * environment (buildEnv), so the value is on no command line.
 */
export function dockerBuild(image: string, context: string, opts: { dockerfile?: string; target?: string; args?: Record<string, string>; fromEnv?: string[]; labels?: Record<string, string> } = {}): string[] {
  const args = Object.entries(opts.args ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => [k, opts.fromEnv?.includes(k) ? undefined : v] as const);
  const labels = Object.entries(opts.labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return [
    'docker',
    'build',
    '-t',
    image,
    ...(opts.dockerfile ? ['-f', opts.dockerfile] : []),
    ...(opts.target ? ['--target', opts.target] : []),
    ...args.flatMap(([k, v]) => ['--build-arg', v === undefined ? k : `${k}=${v}`]),
    ...labels.flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    context,
  ];
}

/** The build args of a service whose value came from a secret variable (dockerBuild's fromEnv). */
export function secretBuildArgs(stack: Stack, name: string): string[] {
  return Object.keys(stack.services[name]?.build?.args ?? {}).filter((k) => stack.secretTemplates[`services.${name}.build.args.${k}`] !== undefined);
}

/** The environment the build of `image` runs with: the values of its secret build args, which dockerBuild names without. */
export function buildEnv(stack: Stack, image: string): Record<string, string> {
  const name = Object.keys(stack.services).find((n) => stack.services[n].build && mapImage(stack.services[n].image, stack.images) === image);
  if (!name) return {};
  const args = stack.services[name].build!.args ?? {};
  return Object.fromEntries(secretBuildArgs(stack, name).map((k) => [k, args[k]]));
}

/** Quote an argv for display (dry-run, logs). */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** `config --hash=*`: one "service hash" line per service (v1 ≥ 1.25 and v2). */
export const composeConfigHash = (cli: ComposeCli, t: ComposeTarget) => [...composeBase(cli, t), 'config', '--hash=*'];

/** Start or recreate only the named services; their dependencies are left alone (see noDeps), their dependents are not touched. */
export const composeUpNoDeps = (cli: ComposeCli, t: ComposeTarget, services: string[]) => [...composeBase(cli, t), 'up', '-d', ...noDeps(cli), ...services];

/** Graceful stop of one container: SIGTERM, then SIGKILL after the grace period. */
export const dockerStop = (container: string, graceSeconds: number) => ['docker', 'stop', '-t', String(graceSeconds), container];

export const dockerRm = (container: string) => ['docker', 'rm', container];

/** nginx inside the front container, on the rendered configuration it was started with (-c). */
export const nginxTest = (conf: string) => ['nginx', '-t', '-q', '-c', conf];
/** Graceful: the master starts workers on the new configuration; old workers finish their requests, then exit. */
export const nginxReload = (conf: string) => ['nginx', '-c', conf, '-s', 'reload'];
export const dockerExecArgv = (container: string, cmd: string[]) => ['docker', 'exec', container, ...cmd];
/** docker exec with stdin open (`stdin`) and variables passed through by name only (`envNames`: their values travel in the environment, never on argv). */
export const dockerExecWith = (container: string, cmd: string[], o: { stdin?: boolean; envNames?: string[] } = {}) => ['docker', 'exec', ...(o.stdin ? ['-i'] : []), ...(o.envNames ?? []).flatMap((n) => ['-e', n]), container, ...cmd];

/** The variables compose commands run with: the stack's resolved values (secrets reach compose only this way). */
export function composeEnv(stack: { vars: Record<string, string> }): Record<string, string> {
  return { ...stack.vars };
}
