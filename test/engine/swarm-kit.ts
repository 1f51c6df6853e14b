// What the swarm engine tests share: the two-node bed (testbed/swarm.sh makes
// or repairs it and prints its facts), a task's container on the node that
// runs it, psql in the database's task, and removing a test stack with its
// volumes and configs from both nodes.
import { execa } from 'execa';
import { ROOT } from '../helpers.js';

export type Bed = Record<string, string>;

/** Makes (or repairs) the bed, quick when it is up; returns its SWARM_* facts. */
export async function swarmBed(): Promise<Bed> {
  const env = await execa('bash', [`${ROOT}/testbed/swarm.sh`], { reject: false, all: true });
  if (env.exitCode !== 0) throw new Error(`testbed/swarm.sh could not make the swarm test bed:\n${env.all}`);
  return Object.fromEntries(env.stdout.split('\n').filter((l) => /^SWARM_[A-Z0-9_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

export const dk = (host: string, ...args: string[]) => execa('docker', ['-H', host, ...args], { reject: false });

export function swarmTools(bed: () => Bed, project: string) {
  /** The node running a service's task and that task's container on the node's own engine. */
  async function taskContainer(service: string): Promise<{ node: string; host: string; id: string }> {
    const b = bed();
    const ps = await dk(b.SWARM_MANAGER_HOST, 'service', 'ps', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.ID}} {{.Node}} {{.CurrentState}}', `${project}_${service}`);
    const line = ps.stdout.split('\n').find((l) => / Running /.test(l));
    if (!line) throw new Error(`${service}: no running task:\n${ps.stdout}${ps.stderr}`);
    const [task, node] = line.split(' ');
    const host = node === 'lsw1' ? b.SWARM_NODE1_HOST : b.SWARM_NODE2_HOST;
    const id = (await dk(host, 'ps', '-q', '--filter', `label=com.docker.swarm.task.id=${task}`)).stdout.trim();
    return { node, host, id };
  }
  const sql = async (q: string) => {
    const c = await taskContainer('db');
    const r = await dk(c.host, 'exec', c.id, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'demo', '-d', 'demo', '-c', q);
    if (r.exitCode !== 0) throw new Error(`psql: ${r.stderr}`);
    return r.stdout.trim();
  };
  async function removeStack(): Promise<void> {
    const b = bed();
    if (!b.SWARM_MANAGER_HOST) return;
    await dk(b.SWARM_MANAGER_HOST, 'stack', 'rm', project);
    await dk(b.SWARM_MANAGER_HOST, 'service', 'rm', `${project}_migrate`);
    for (const host of [b.SWARM_NODE1_HOST, b.SWARM_NODE2_HOST]) {
      for (let i = 0; i < 60; i++) {
        if (!(await dk(host, 'ps', '-aq', '--filter', `label=com.docker.stack.namespace=${project}`)).stdout.trim()) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      const vols = (await dk(host, 'volume', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${project}`)).stdout.split('\n').filter(Boolean);
      if (vols.length) await dk(host, 'volume', 'rm', ...vols);
    }
    const configs = (await dk(b.SWARM_MANAGER_HOST, 'config', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${project}`)).stdout.split('\n').filter(Boolean);
    if (configs.length) await dk(b.SWARM_MANAGER_HOST, 'config', 'rm', ...configs);
  }
  return { taskContainer, sql, removeStack };
}
