// A TCP proxy on 127.0.0.1 in front of the API server, for the fault suite: it forwards bytes (TLS stays
// end to end, so the operator verifies the API server's certificate as usual), and can stall the open
// connections (stop forwarding without closing, as a dead middlebox does) or cut every connection and
// refuse new ones for a while.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /**
   * Stops forwarding on the connections open now; they stay open towards the operator even when the
   * server closes its side. New connections are forwarded.
   */
  stallOpen(): void;
  /** Closes every connection and refuses new ones until resume(). */
  cut(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; stalled: boolean }>();
  let refusing = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream, stalled: false };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!pair.stalled) to.write(chunk);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    // Stalled, the client never learns that the server closed its side: the connection just hangs.
    const upstreamGone = (): void => {
      if (pair.stalled) upstream.destroy();
      else end();
    };
    upstream.on('close', upstreamGone).on('error', upstreamGone);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const destroyAll = (): void => {
    for (const p of pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    accepted: () => accepted,
    stallOpen: () => {
      for (const p of pairs) p.stalled = true;
    },
    cut: () => {
      refusing = true;
      destroyAll();
    },
    resume: () => {
      refusing = false;
    },
    close: () =>
      new Promise((r) => {
        destroyAll();
        server.close(() => r());
      }),
  };
}
