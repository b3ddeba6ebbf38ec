import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { KeysUnavailableError } from './decide.ts';
import { JwksCache, usableKeys } from './jwks.ts';

const ISS = 'https://id.example.com';

async function keyPair(kid: string): Promise<{ jwk: JWK; sign: () => Promise<string> }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { jwk, sign: () => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(ISS).setExpirationTime('5m').sign(privateKey) };
}

/** Resolves a token's key the way jwtVerify does: header, then the resolver. */
const resolve = async (cache: JwksCache, source: Parameters<JwksCache['resolver']>[0], token: string): Promise<unknown> => {
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { alg: string; kid: string };
  return cache.resolver(source)(header, { payload: '', signature: '' } as never);
};

describe('JwksCache', () => {
  it('fetches once, refreshes on an unknown kid at most once per cooldown, and then knows the rotated key', async () => {
    const a = await keyPair('a');
    const b = await keyPair('b');
    let served: JWK[] = [a.jwk];
    let t = 0;
    const urls: string[] = [];
    const cache = new JwksCache(async (url) => (urls.push(url), { keys: served }), { cooldownMs: 1000, now: () => t });
    const src = { jwksURI: `${ISS}/jwks` };
    await expect(resolve(cache, src, await a.sign())).resolves.toBeDefined();
    await expect(resolve(cache, src, await a.sign())).resolves.toBeDefined();
    expect(urls).toEqual([`${ISS}/jwks`]);

    served = [a.jwk, b.jwk];
    t = 500; // within the cooldown of the first fetch: no new fetch, the unknown kid is refused
    await expect(resolve(cache, src, await b.sign())).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    expect(urls).toHaveLength(1);
    t = 1500;
    await expect(resolve(cache, src, await b.sign())).resolves.toBeDefined();
    expect(urls).toHaveLength(2);
    // A flood of made-up kids costs at most one fetch per cooldown.
    for (let i = 0; i < 50; i++) await expect(resolve(cache, src, await (await keyPair(`x${i}`)).sign())).rejects.toBeDefined();
    expect(urls).toHaveLength(2);
  });

  it('reads the jwks_uri from the discovery document, and refuses one that names another issuer', async () => {
    const a = await keyPair('a');
    const docs: Record<string, unknown> = { [`${ISS}/.well-known/openid-configuration`]: { issuer: ISS, jwks_uri: `${ISS}/keys` }, [`${ISS}/keys`]: { keys: [a.jwk] } };
    const cache = new JwksCache(async (url) => docs[url]);
    await expect(resolve(cache, { issuer: ISS }, await a.sign())).resolves.toBeDefined();
    docs['https://other.example.com/.well-known/openid-configuration'] = { issuer: ISS, jwks_uri: `${ISS}/keys` };
    await expect(resolve(cache, { issuer: 'https://other.example.com' }, await a.sign())).rejects.toThrow(/another issuer/);
  });

  it('keeps cached keys while the provider is down, for a bounded time, then refuses', async () => {
    const a = await keyPair('a');
    let up = true;
    let t = 0;
    const cache = new JwksCache(async () => {
      if (!up) throw new Error('connection refused');
      return { keys: [a.jwk] };
    }, { maxAgeMs: 1000, staleForMs: 5000, cooldownMs: 100, now: () => t });
    const src = { jwksURI: `${ISS}/jwks` };
    await resolve(cache, src, await a.sign());
    up = false;
    t = 3000; // expired, the refresh fails: the cached keys still work
    await expect(resolve(cache, src, await a.sign())).resolves.toBeDefined();
    t = 7000; // past maxAge + staleFor
    await expect(resolve(cache, src, await a.sign())).rejects.toBeInstanceOf(KeysUnavailableError);
  });

  it.each([
    ['not JSON (an HTML page)', '<html>'],
    ['no keys array', { keys: 'x' }],
    ['no usable key', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }, { kty: 'RSA', use: 'enc', n: 'x', e: 'AQAB' }] }],
  ])('a JWKS with %s has no keys to offer', (_n, doc) => {
    expect(() => usableKeys(doc)).toThrow(KeysUnavailableError);
  });
});
