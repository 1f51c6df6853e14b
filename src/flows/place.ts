// Where a stack's project lives, as its target sees it: the key of the
// project's engine-wide lock, and what carries the labels naming the state
// dir in charge. Each target (src/target) chooses one and the CLI puts it on
// the run (Run.place); the ownership flow asks it without knowing which kind
// of target it serves. A swarm's is flows/swarm-common.ts swarmPlace; a
// target whose engine is elsewhere brings its own.
import type { Stack } from '../config/schema.js';
import type { DockerClient } from '../clients/docker.js';
import type { LabeledContainer } from '../plan/ownership.js';
import type { Effects } from './effects.js';

/** What a place needs of the run to look. */
export interface PlaceObserver {
  docker: DockerClient;
  env: Record<string, string | undefined>;
  effects: Effects;
}

export interface ProjectPlace {
  /** what the project's engine-wide lock is keyed by */
  engineKey(stack: Stack, run: PlaceObserver): Promise<string>;
  /** what carries the project's state labels */
  labelled(stack: Stack, run: PlaceObserver): Promise<LabeledContainer[]>;
}

/** The project's containers on the Docker engine the run talks to, keyed by that engine's id. */
export const enginePlace: ProjectPlace = {
  engineKey: async (_stack, run) => `engine:${await run.docker.engineId()}`,
  labelled: (stack, run) => run.docker.projectContainers(stack.project),
};
