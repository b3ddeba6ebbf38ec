// Fixtures of the guard's tests: the orders API's authorization rules, and an issuer's RS256 and ES256
// keys behind a local JWKS (jose) with a signer for its tokens and one for a stranger's key that reuses its kid.
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';

export const TEST_ISSUER = 'https://id.example.com';

/** An anonymous health check, reads with orders:read, creation with orders:write; nothing else. */
export const ORDERS_RULES = {
  defaultAction: 'Deny' as const,
  rules: [
    { methods: ['GET' as const], paths: ['/healthz'], anonymous: true },
    { methods: ['GET' as const], paths: ['/v1/orders/*'], requireScopes: ['orders:read'] },
    { methods: ['POST' as const], paths: ['/v1/orders'], requireScopes: ['orders:write'] },
  ],
};
export const TEST_AUDIENCE = 'orders-api';

export type Sign = (claims: Record<string, unknown>, opts?: { alg?: string; kid?: string }) => Promise<string>;

export interface TestIssuer {
  /** The issuer's public keys (kids `rsa` and `ec`), as the guard resolves them. */
  jwks: JWTVerifyGetKey;
  /** A token of the issuer (sub alice, audience orders-api, 5 minutes from `now`) with these claims over its own. */
  sign: Sign;
  /** The same claims signed by a key the issuer never published, under kid `rsa`. */
  otherSign: Sign;
}

export async function testIssuer(now: Date): Promise<TestIssuer> {
  const t = Math.floor(now.getTime() / 1000);
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const stranger = await generateKeyPair('RS256');
  const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256' }] as JWK[] };
  const make = (priv: CryptoKey, dflt: { alg: string; kid: string }): Sign => async (claims, opts = {}) =>
    new SignJWT({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: 'alice', iat: t, exp: t + 300, ...claims })
      .setProtectedHeader({ alg: opts.alg ?? dflt.alg, kid: opts.kid ?? dflt.kid })
      .sign(priv);
  const sign: Sign = async (claims, opts = {}) => (opts.alg === 'ES256' ? make(ec.privateKey, { alg: 'ES256', kid: 'ec' }) : make(rsa.privateKey, { alg: 'RS256', kid: 'rsa' }))(claims, opts);
  return { jwks: createLocalJWKSet(jwks), sign, otherSign: make(stranger.privateKey, { alg: 'RS256', kid: 'rsa' }) };
}
