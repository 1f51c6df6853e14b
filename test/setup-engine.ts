// Build the CLI bundle once and insist on a reachable Docker engine: the
// integration tests must run, never be skipped. `make test` runs
// testbed/setup.sh before vitest, which installs and starts what is needed.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe' });
  } catch {
    throw new Error('the Docker engine is not reachable: run `make test` (it starts dockerd via testbed/setup.sh)');
  }
}
