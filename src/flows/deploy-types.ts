// The deploy flow's shared shapes: its options and result, the inputs every
// step reads, and what the executor changed so far (which decides the undo).
import type { Stack } from '../config/schema.js';
import type { ComposeTarget } from '../commands/compose.js';
import type { RenderedFile } from '../render/index.js';
import type { DeployPlan } from '../plan/deploy.js';
import type { ReleaseRecord } from '../state/ledger.js';
import type { Run } from './context.js';

export interface DeployFlowOptions {
  stateDir: string;
  build?: boolean;
  dryRun?: boolean;
  commandLine: string;
  allowDangerousMigrations?: boolean;
  skipBackup?: boolean;
  /** --maintenance: the front answers 503 (maintenance mode) while the deploy runs */
  maintenance?: boolean;
  /** --wait: how long to wait for a live run holding the lock (ms) */
  waitMs?: number;
  /** asks the operator (production); throws when refused or when there is no terminal */
  confirm?: (question: string) => Promise<void>;
}

export interface DeployResult {
  run_id: string;
  env: string;
  version: string;
  outcome: 'success' | 'failed' | 'planned';
  duration_ms: number;
  config_hash: string;
  images: Record<string, string>;
  log: string;
  plan?: DeployPlan;
}

/** What a deploy is about: the stack, its render, where it goes. Computed once, read by every step. */
export interface DeployInputs {
  stack: Stack;
  run: Run;
  opts: DeployFlowOptions;
  files: RenderedFile[];
  hash: string;
  renderDir: string;
  target: ComposeTarget;
  version: string;
  images: Record<string, string>;
  prev?: ReleaseRecord;
  /**
   * compose's hashes of exactly `files`, as the plan computed them: the
   * release record takes them instead of asking compose again (a second
   * `config --hash`, about a second on compose v1) while `files` is the same
   * list (a certificate's re-render replaces it).
   */
  plannedHashes?: { files: RenderedFile[]; hashes: Record<string, string> };
}

/** What the executor changed so far: decides what the undo has to do. */
export interface Changes {
  files: boolean;
  containers: boolean;
  backupId?: string;
  /** the migrations changed the database (schema fingerprints), or that cannot be told */
  migrationsRan: boolean;
  serviceHashes?: Record<string, string>;
}
