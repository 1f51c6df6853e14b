// Whether a host port can be bound: the pre-flight's check that a published
// port is free (or already held by this project's own containers).
import net from 'node:net';

/** A target whose published ports are another machine's (a server over SSH) asks there instead. */
let probe: ((port: number, host: string) => Promise<boolean>) | undefined;
export function setPortProbe(fn: ((port: number, host: string) => Promise<boolean>) | undefined): void {
  probe = fn;
}

export function portFree(port: number, host: string): Promise<boolean> {
  if (probe) return probe(port, host);
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

