// The monitoring services in the deploy plan. They come from the monitoring
// override (render/monitoring.ts), not from the stack's `services`, so the
// deploy plan asks here which ones there are and what a change of theirs
// needs: a changed image or compose configuration recreates the service (the
// rollout decides that from compose's hashes like for any service); a changed
// file that Prometheus or Alertmanager reads from its bind-mounted folder is
// invisible to compose's hash, so the running process is told to reload it in
// place, after the program's own check accepted the new files. Pure.
import type { Stack } from '../config/schema.js';
import { monitoringOf } from '../config/monitoring.js';
import { mapImage } from '../config/images.js';
import { monitoringCompose } from '../render/monitoring.js';
import type { RenderedFile } from '../render/types.js';
import type { ObservedContainer } from './rollout.js';

/** The services the monitoring override adds, with the image each runs (the stack's image mapping applied); none when monitoring is off. */
export function monitoringServices(stack: Stack): { service: string; image: string }[] {
  const mon = monitoringOf(stack);
  if (!mon) return [];
  const services = monitoringCompose(stack, mon).services as Record<string, { image: string }>;
  return Object.entries(services).map(([service, s]) => ({ service, image: mapImage(s.image, stack.images) }));
}

/**
 * The services that reload their configuration in place (the renderer's
 * RELOADED_IN_PLACE: their compose definition carries no digest of these files): the rendered
 * folder their container mounts, the check the program itself makes of the
 * files as the container sees them, and the signal that makes it reload.
 */
export const RELOADABLE: Record<string, { dir: string; check: string[]; what: string }> = {
  prometheus: { dir: 'prometheus/', check: ['promtool', 'check', 'config', '/etc/prometheus/prometheus.yml'], what: 'prometheus.yml and its rule files' },
  alertmanager: { dir: 'alertmanager/', check: ['amtool', 'check-config', '/etc/alertmanager/alertmanager.yml'], what: 'alertmanager.yml' },
};

/** SIGHUP to a container's main process: Prometheus and Alertmanager reload their configuration on it. */
export const dockerHup = (container: string) => ['docker', 'kill', '--signal', 'HUP', container];

/** The rendered files one reloadable service reads, as one comparable string. */
function filesOf(service: string, files: RenderedFile[]): string {
  const dir = RELOADABLE[service].dir;
  return files
    .filter((f) => f.path.startsWith(dir))
    .map((f) => `${f.path}\0${f.content}`)
    .sort()
    .join('\0');
}

/** Per reloadable service: do its files differ from the last release's ('unknown': no release to compare with)? */
export function monitoringFilesChanged(prev: RenderedFile[] | undefined, files: RenderedFile[]): Record<string, boolean | 'unknown'> {
  return Object.fromEntries(Object.keys(RELOADABLE).map((s) => [s, prev ? filesOf(s, prev) !== filesOf(s, files) : 'unknown']));
}

/** Check the new files inside the running container, then reload them there: the container (and its data) stays. */
export interface ReloadMonitoringStep {
  kind: 'reload-monitoring';
  title: string;
  service: string;
  /** the running container, as observed when planning */
  container: string;
  /** run inside the container first (read only): a refusal stops the deploy before the reload */
  check: string[];
  /** the reload itself */
  argv: string[];
}

/**
 * One reload per running container of each reloadable service that keeps its
 * containers and whose files changed (or may have: no release to compare
 * with). A service being recreated reads the new files as it starts.
 */
export function planMonitoringReloads(stack: Stack, unchanged: string[], containers: ObservedContainer[], changed: Record<string, boolean | 'unknown'> | undefined): ReloadMonitoringStep[] {
  const present = new Set(monitoringServices(stack).map((s) => s.service));
  const steps: ReloadMonitoringStep[] = [];
  for (const [service, spec] of Object.entries(RELOADABLE)) {
    const why = changed?.[service] ?? 'unknown';
    if (!present.has(service) || !unchanged.includes(service) || why === false) continue;
    const reason = why === 'unknown' ? 'no earlier release to compare with' : `${spec.what} changed`;
    for (const c of containers.filter((x) => x.service === service && x.state === 'running')) {
      steps.push({ kind: 'reload-monitoring', title: `${service}: ${spec.check.slice(0, 2).join(' ')} on the new files, then reload ${c.name} in place (${reason})`, service, container: c.id, check: spec.check, argv: dockerHup(c.id) });
    }
  }
  return steps;
}
