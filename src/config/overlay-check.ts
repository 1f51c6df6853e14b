// An environment's overlay may change a service of the base or add a whole
// new one (with its image). A partial service under a name the base does not
// have is a typo (`wbe:` for `web:`): said at the overlay's own line, with the
// base's service names and the closest one, instead of the schema's "image:
// required" about a new service somewhere else. Pure.
import { ConfigError } from '../errors.js';
import { locateKey, type Source } from './source.js';
import { didYouMean } from './suggest.js';

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function checkOverlayServices(src: Source, base: Record<string, unknown>, environments: Record<string, unknown>): void {
  const known = isMapping(base.services) ? Object.keys(base.services) : [];
  for (const [env, overlay] of Object.entries(environments)) {
    if (!isMapping(overlay) || !isMapping(overlay.services)) continue;
    for (const [name, def] of Object.entries(overlay.services)) {
      if (known.includes(name) || (isMapping(def) && def.image !== undefined)) continue;
      const hint = didYouMean(name, known);
      throw new ConfigError(
        `${src.file}:${locateKey(src, ['environments', env, 'services'], name)}: environments.${env}.services.${name}: the base has no service "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; services: ${known.join(', ') || 'none'}`,
        hint ? `rename it to ${hint}, or give it an image: to add a service in ${env} only` : `give it an image: to add a service in ${env} only`,
      );
    }
  }
}
