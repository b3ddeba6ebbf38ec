import { normalisePath, parseCheckPath, pathMatches, requestTarget } from './paths.ts';

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

describe('parseCheckPath', () => {
  it.each([
    ['/check/shop/orders', { namespace: 'shop', name: 'orders' }],
    ['/check/shop/orders?ignored=1', { namespace: 'shop', name: 'orders' }],
    ['/check/shop/catalog-api/v1/items?x=1', { namespace: 'shop', name: 'catalog-api', target: '/v1/items?x=1' }],
    ['/check/shop/catalog-api/', { namespace: 'shop', name: 'catalog-api', target: '/' }],
    ['/check/shop/api.v2/v1/items', { namespace: 'shop', name: 'api.v2', target: '/v1/items' }],
    ['/check/shop/orders//admin', { namespace: 'shop', name: 'orders', target: '//admin' }],
    ['/check/shop/orders/../other/v1', { namespace: 'shop', name: 'orders', target: '/../other/v1' }],
    ['/check/shop/orders/v1?next=/a/b?c', { namespace: 'shop', name: 'orders', target: '/v1?next=/a/b?c' }],
  ])('%s', (url, want) => expect(parseCheckPath(url)).toEqual(want));

  it.each(['/check/shop', '/check/shop/', '/check//orders', '/check/Shop/orders', '/check/shop/orders-', '/check/shop/orders*', '/other/shop/orders', 'http://guard/check/shop/orders', '/check/shop/%6frders'])(
    'refuses %s',
    (url) => expect(parseCheckPath(url)).toBeUndefined(),
  );
});
