import { ApiError } from './k8s/errors.ts';
import { LeaseError } from './k8s/leader.ts';
import { StartError, explainCacheSync, explainListen, fatalLine } from './fatal.ts';

const lease = (verb: 'get' | 'create' | 'update', status: number, reason: string): LeaseError =>
  new LeaseError(verb, 'apisec-system', 'api-security-operator', new ApiError(`${verb}: ${status} ${reason}`, status, reason));

describe('the fatal start line', () => {
  it('names the missing lease namespace and the flag', () => {
    const line = fatalLine(lease('create', 404, 'NotFound'));
    expect(line).toContain('lease namespace apisec-system not found');
    expect(line).toContain('--leader-election-namespace');
  });

  it('names the verb, the resource and the RBAC rule when leases are forbidden', () => {
    const line = fatalLine(lease('get', 403, 'Forbidden'));
    expect(line).toContain('forbidden to get leases.coordination.k8s.io in namespace apisec-system');
    expect(line).toMatch(/grant get, create and update on leases/);
  });

  it('names the credentials flags on 401 and the lease id flag on 422', () => {
    expect(fatalLine(lease('get', 401, 'Unauthorized'))).toContain('--kubeconfig');
    expect(fatalLine(new ApiError('GET /api: 401', 401, 'Unauthorized'))).toContain('--kubeconfig');
    expect(fatalLine(lease('create', 422, 'Invalid'))).toContain('--leader-election-id');
  });

  it('names the address flag when the metrics or probe port is taken', () => {
    const err = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
    expect(explainListen(err, '--metrics-bind-address', { host: '127.0.0.1', port: 8080 })).toBe(
      'address 127.0.0.1:8080 of --metrics-bind-address is already in use: stop what listens there or set --metrics-bind-address to another HOST:PORT (port 0 picks a free port)',
    );
    expect(explainListen(err, '--health-probe-bind-address', { port: 8081 })).toContain('address :8081 of --health-probe-bind-address is already in use');
    expect(fatalLine(new StartError('as given'))).toBe('as given');
  });

  it('lists the caches that did not sync, with their errors', () => {
    const line = explainCacheSync([{ resource: 'apisecuritypolicies', synced: false, healthy: false, restarts: 3, relists: 0, expired: 0, lastError: 'GET …: 403 Forbidden' }], 120_000);
    expect(line).toContain('caches not synced within 120 s: apisecuritypolicies (GET …: 403 Forbidden)');
    expect(line).toContain('--cache-sync-timeout');
  });
});
