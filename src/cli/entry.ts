// Process-facing entry: real streams and environment in, exit code out.
// A reader that goes away (`lifeops status | head -3`) closes our stdout:
// the rest of the output is dropped quietly instead of crashing on EPIPE.
import { main } from './main.js';

function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

export async function run(argv: string[]): Promise<number> {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  return main(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    self: { node: process.execPath, script: process.argv[1] ?? 'lifeops' },
    env: process.env,
    now: () => new Date(),
    verbose: argv.includes('--verbose'),
    json: argv.includes('--json'),
  });
}
