// A Redis that a compose file starts with its password on the command line
// (`redis-server --requirepass ${REDIS_PASSWORD} --appendonly yes`) becomes
// lifeops' managed `redis:` block: the password goes to the env file and
// reaches the server through a config file (render/datastores.ts), never a
// process's argv; the settings the block owns (appendonly, save, maxmemory,
// maxmemory-policy) move into it with the values the command gave, and the
// server's own defaults where it gave none; other flags stay in the command.
// Pure.
import { ConfigError } from '../errors.js';
import { isObject, memory, type Json, type Secrets } from './values.js';
import { shellWords } from '../util/shell-words.js';

const POLICIES = ['noeviction', 'allkeys-lru', 'volatile-lru', 'allkeys-lfu', 'volatile-lfu', 'allkeys-random', 'volatile-random', 'volatile-ttl'];

/** redis-server's save points when no --save is given: 6.2 and later, else earlier. */
function defaultSave(image: string): string[] {
  const m = /:(\d+)(?:\.(\d+))?/.exec(image.replace(/^.*\//, ''));
  const older = m && (Number(m[1]) < 6 || (Number(m[1]) === 6 && m[2] !== undefined && Number(m[2]) < 2));
  return older ? ['900 1', '300 10', '60 10000'] : ['3600 1', '300 100', '60 10000'];
}

export interface RedisContext {
  atKey(keyPath: (string | number)[]): string;
  secrets: Secrets;
  notes: string[];
  comments: { path: (string | number)[]; text: string }[];
}

/**
 * The `redis:` block for the first redis service whose command gives
 * --requirepass; its command rewritten without the flags the block owns.
 * Another redis service with --requirepass is refused: the block manages one.
 */
export function managedRedis(c: RedisContext, services: Json): Json | undefined {
  let block: Json | undefined;
  for (const [name, svc] of Object.entries(services) as [string, Json][]) {
    if (svc.role !== 'redis' || svc.command === undefined) continue;
    const argv = Array.isArray(svc.command) ? svc.command.map(String) : shellWords(String(svc.command));
    if (!argv.includes('--requirepass') || (argv[0] ?? '').replace(/^.*\//, '') !== 'redis-server') continue;
    const refuse = (what: string, todo: string): never => {
      throw new ConfigError(`${c.atKey(['services', name, 'command'])}: services.${name}.command: ${what}`, todo);
    };
    if (block) refuse(`a second Redis with --requirepass: lifeops manages the password of one Redis per stack (redis:, given to ${String(block.service)}), and this one's would be on its command line`, `give ${name} its password in a config file it reads, or run it without a password on an internal network, then import again`);
    if (argv[1] !== undefined && !argv[1].startsWith('--')) refuse(`redis-server reads its own config file (${argv[1]}) and a --requirepass on its command line`, 'put requirepass in that config file (read from the environment), or drop the config file, then import again');
    const options: { flag: string; args: string[] }[] = [];
    for (const w of argv.slice(1)) {
      if (w.startsWith('--')) options.push({ flag: w.slice(2), args: [] });
      else options[options.length - 1].args.push(w);
    }
    const one = (flag: string) => options.filter((o) => o.flag === flag).pop()?.args.join(' ');
    const password = one('requirepass') ?? '';
    if (!password) refuse('--requirepass with no password', 'give the password, then import again');
    const b: Json = { service: name, password: password.includes('${') ? password : `\${${c.secrets.varFor('REDIS_PASSWORD', name, password)}}` };
    const maxmemory = one('maxmemory');
    if (maxmemory !== undefined) b.maxmemory = memory(maxmemory);
    const policy = one('maxmemory-policy');
    if (policy !== undefined) {
      if (!POLICIES.includes(policy)) refuse(`--maxmemory-policy ${policy}: valid: ${POLICIES.join(', ')}`, 'correct it, then import again');
      b.maxmemory_policy = policy;
    }
    const appendonly = one('appendonly');
    b.appendonly = appendonly === 'yes';
    const saves = options.filter((o) => o.flag === 'save');
    if (saves.length) {
      const points = saves.flatMap((o) => o.args.join(' ').trim().split(/\s+/).filter(Boolean));
      b.save = points.reduce<string[]>((acc, p, i) => (i % 2 ? [...acc.slice(0, -1), `${acc[acc.length - 1]} ${p}`] : [...acc, p]), []);
    } else {
      b.save = defaultSave(String(svc.image ?? ''));
      c.comments.push({ path: ['redis', 'save'], text: " redis-server's own default for this image (the command gave no --save)" });
    }
    const owned = ['requirepass', 'maxmemory', 'maxmemory-policy', 'appendonly', 'save'];
    const rest = options.filter((o) => !owned.includes(o.flag)).flatMap((o) => [`--${o.flag}`, ...o.args]);
    if (rest.length) svc.command = [argv[0], ...rest];
    else delete svc.command;
    c.notes.push(`services.${name}.command: --requirepass and the settings the redis: block owns moved into redis: (the password reaches the server through a file, never its command line)`);
    block = b;
  }
  return block && isObject(block) ? block : undefined;
}
