// Process-facing entry: real streams and environment in, exit code out.
import { main } from './main.js';

export async function run(argv: string[]): Promise<number> {
  return main(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    now: () => new Date(),
    verbose: argv.includes('--verbose'),
    json: argv.includes('--json'),
  });
}
