// lifeops hosts trust <env>: show the server's host key fingerprints, pin them after confirmation
import type { Cli } from '../context.js';
import { pinHostKeys, scanHostKeys } from '../../flows/remote-hosts.js';
import { realEffects } from '../../flows/effects.js';

export async function hostsTrustCommand(cli: Cli, env: string, o: { yes?: boolean; json?: boolean }): Promise<number> {
  const stack = cli.load(env);
  const facts = await scanHostKeys(realEffects, stack, cli.io.env);
  if (facts.already_known) {
    cli.err(`${facts.host} already has a pinned key in ${facts.known_hosts}; nothing written (a changed key is refused by ssh: remove the old one with ssh-keygen -R first)`);
    if (o.json) cli.json({ ...facts, written: false });
    return 0;
  }
  cli.err(`host keys offered by ${facts.host} (environment ${env}):`);
  for (const f of facts.fingerprints) cli.err(`  ${f}`);
  cli.err("compare with the server's own: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
  await cli.confirm(`pin these keys for ${facts.host} in ${facts.known_hosts}?`, o.yes);
  pinHostKeys(facts);
  cli.err(`pinned ${facts.lines.length} key(s) in ${facts.known_hosts}`);
  if (o.json) cli.json({ ...facts, written: true });
  return 0;
}
