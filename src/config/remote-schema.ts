// `host:` and `remote:`: an environment that runs on another machine, reached
// with the operator's OpenSSH (issue 26). Kept apart from schema.ts, which only names them.
import { z } from 'zod';

export const hostSchema = z
  .string()
  .regex(
    /^(ssh:\/\/([A-Za-z0-9_][A-Za-z0-9._-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\])(:\d{1,5})?\/?|[A-Za-z0-9][A-Za-z0-9._-]*)$/,
    'an SSH address such as "ssh://ops@server", "ssh://ops@server:2222", or a Host name of ~/.ssh/config',
  )
  .describe('the server this environment runs on, reached over SSH (default: this machine)');

const absPath = z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'an absolute path on the server');

export const remoteSchema = z
  .object({
    root: absPath.default('/srv/lifeops').describe("the server's folder for releases and locks (<root>/<project>/)"),
    docker_socket: absPath.default('/var/run/docker.sock').describe("the server's Docker engine socket, forwarded through the SSH connection"),
    lock_wait: z.string().regex(/^\d+(s|m)$/, 'a duration such as "30s" or "5m"').default('60s').describe("how long a command waits for the server's lock held by another operator"),
  })
  .strict();

export const DEFAULT_REMOTE_ROOT = '/srv/lifeops';

/** The server's folder of one project (releases, locks, the front's files): <remote.root>/<project>. */
export const serverProjectRoot = (s: { project: string; remote?: { root?: string } }): string => `${(s.remote?.root ?? DEFAULT_REMOTE_ROOT).replace(/\/+$/, '')}/${s.project}`;

/**
 * The server's folder the nginx front bind-mounts: a fixed path that each
 * release switch updates file by file. A bind mount is resolved when its
 * container starts, so a front mounting `current/nginx` would keep reading
 * the release it started with; this one sees every release it is reloaded onto.
 */
export const serverFrontDir = (s: { project: string; remote?: { root?: string } }): string => `${serverProjectRoot(s)}/front`;
