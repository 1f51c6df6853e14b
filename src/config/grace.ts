// How long a service's container is given to stop after SIGTERM. A gunicorn
// service waits up to graceful_timeout for its workers to finish their
// requests: a container stopped sooner is killed mid-request, so its grace is
// at least graceful_timeout plus a margin for the master's own exit.
import type { Service } from './schema.js';
import { parseDuration } from '../util/units.js';

/** Seconds between gunicorn's graceful_timeout and the container's stop grace period. */
export const GUNICORN_STOP_MARGIN_S = 5;
/** Docker's default stop timeout. */
const DOCKER_DEFAULT_GRACE_S = 10;

/** The stop grace period in seconds this service gets (rendered into compose and used by rolls). */
export function stopGraceSeconds(svc: Pick<Service, 'stop_grace_period' | 'gunicorn'>): number {
  const declared = svc.stop_grace_period ? Math.ceil(parseDuration(svc.stop_grace_period) / 1000) : DOCKER_DEFAULT_GRACE_S;
  return svc.gunicorn ? Math.max(declared, svc.gunicorn.graceful_timeout + GUNICORN_STOP_MARGIN_S) : declared;
}

/** The compose value: the declared one when it is enough, else the seconds needed; undefined for Docker's default. */
export function renderedStopGrace(svc: Pick<Service, 'stop_grace_period' | 'gunicorn'>): string | undefined {
  const s = stopGraceSeconds(svc);
  if (svc.stop_grace_period && Math.ceil(parseDuration(svc.stop_grace_period) / 1000) === s) return svc.stop_grace_period;
  return s === DOCKER_DEFAULT_GRACE_S && !svc.stop_grace_period ? undefined : `${s}s`;
}
