// The OpenID provider of the guard tests, in a process of its own: oauth2-mock-server (which this
// project does not write) over https on 127.0.0.1, serving its discovery document and JWKS. The test
// asks it over IPC to sign tokens (claims adjusted by the test: audience, issuer, expiry, scope) and to
// rotate its signing key. Its own process also keeps it out of jest's module realm, whose objects
// oauth2-mock-server's plain-object checks refuse.
import { OAuth2Server } from 'oauth2-mock-server';

type Ask = { id: number; op: 'token'; claims: Record<string, unknown>; expiresIn?: number; kid?: string } | { id: number; op: 'rotate' };

const [key, cert, port] = process.argv.slice(2);
const server = new OAuth2Server(key, cert);
let current = (await server.issuer.keys.generate('RS256')).kid;
server.issuer.url = `https://127.0.0.1:${port}`;
await server.start(Number(port), '127.0.0.1');

process.on('message', (m: Ask) => {
  void (async () => {
    try {
      if (m.op === 'rotate') {
        current = (await server.issuer.keys.generate('RS256')).kid;
        process.send?.({ id: m.id, kid: current });
        return;
      }
      const token = await server.issuer.buildToken({
        kid: m.kid ?? current,
        ...(m.expiresIn !== undefined ? { expiresIn: m.expiresIn } : {}),
        scopesOrTransform: (_header, payload) => {
          for (const [k, v] of Object.entries(m.claims)) payload[k] = v;
        },
      });
      process.send?.({ id: m.id, token });
    } catch (err) {
      process.send?.({ id: m.id, error: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => void server.stop().finally(() => process.exit(0)));
process.send?.({ id: 0, ready: true });
