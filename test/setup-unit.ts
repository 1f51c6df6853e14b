// The unit lane builds the CLI bundle (tests run bin/lifeops.js) and needs
// nothing else: no Docker engine, no network.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });
}
