// Whether a host port can be bound: the pre-flight's check that a published
// port is free (or already held by this project's own containers).
import net from 'node:net';

export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

