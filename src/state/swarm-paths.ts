// Files a Swarm target keeps under the state folder:
//   swarm-backups/<env>/<id>/   one backup: postgres.dump, redis.rdb, release/ (the stack file and
//                               rendered configs in force), manifest.json written last
import path from 'node:path';

export const swarmBackupsDir = (stateDir: string, env: string) => path.join(stateDir, 'swarm-backups', env);
export const swarmBackupDir = (stateDir: string, env: string, id: string) => path.join(swarmBackupsDir(stateDir, env), id);
