import { normalisePath, pathMatches, requestTarget } from './paths.ts';

describe('normalisePath', () => {
  it.each([
    ['/v1/orders', '/v1/orders'],
    ['/v1/orders/', '/v1/orders/'],
    ['/', '/'],
    ['/v1/orders/../admin', '/v1/admin'],
    ['/v1/./orders', '/v1/orders'],
    ['//v1///orders', '/v1/orders'],
    ['/v1/%6Frders', '/v1/orders'],
    ['/v1/%2e%2e/admin', '/admin'],
    ['/v1/orders?x=/../admin', '/v1/orders'],
    ['/v1/orders/..', '/v1/'],
  ])('%s → %s', (raw, want) => expect(normalisePath(raw)).toEqual({ ok: true, path: want }));

  it.each([
    ['/v1/orders%2F..%2Fadmin', 'encodes a slash'],
    ['/v1/%5c..', 'encodes a slash, a backslash'],
    ['/v1/%252e%252e/admin', 'percent sign'],
    ['/v1/%00', 'NUL'],
    ['/..', 'climbs above the root'],
    ['/v1/%E0%A4%A', 'malformed'],
    ['/v1/a\\..\\admin', 'backslash'],
    ['v1/orders', 'does not start with /'],
    [`/${'a'.repeat(9000)}`, 'longer than'],
  ])('refuses %s', (raw, why) => {
    const r = normalisePath(raw);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.why).toContain(why);
  });
});

describe('pathMatches', () => {
  it.each([
    ['/v1/orders', '/v1/orders', true],
    ['/v1/orders', '/v1/orders/', false],
    ['/v1/orders', '/v1/orders/1', false],
    ['/v1/orders/*', '/v1/orders', true],
    ['/v1/orders/*', '/v1/orders/1/items', true],
    ['/v1/orders/*', '/v1/ordersX', false],
    ['/*', '/anything', true],
  ])('%s matches %s: %s', (pattern, path, want) => expect(pathMatches(pattern, path)).toBe(want));
});

describe('requestTarget', () => {
  it('reads an absolute URL without resolving its dot segments', () => {
    expect(requestTarget('https://api.example.com/v1/../admin?q=1')).toBe('/v1/../admin?q=1');
    expect(requestTarget('https://api.example.com')).toBe('/');
    expect(requestTarget('/v1/x')).toBe('/v1/x');
    expect(requestTarget('api.example.com/v1')).toBeUndefined();
  });
});
