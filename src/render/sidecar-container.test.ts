import {
  SIDECAR_ARGS,
  SIDECAR_COMMAND,
  SIDECAR_CONFIG_DIR,
  SIDECAR_CONFIG_FILE,
  SIDECAR_PREFIX,
  sidecarArgs,
  sidecarCommandLine,
  sidecarContainer,
  sidecarVolumes,
} from './sidecar-container.ts';
import { SIDECAR_CONFIG_KEY } from './sidecar-nginx.ts';

describe('sidecar container start contract', () => {
  it('runs nginx in the emptyDir prefix with the read-only ConfigMap file and errors on stderr', () => {
    expect(SIDECAR_COMMAND).toEqual(['nginx']);
    expect(SIDECAR_ARGS).toEqual(['-p', '/tmp/nginx', '-e', 'stderr', '-c', '/etc/apisec/nginx.conf', '-g', 'daemon off;']);
    expect(SIDECAR_CONFIG_FILE).toBe(`${SIDECAR_CONFIG_DIR}/${SIDECAR_CONFIG_KEY}`);
    expect(sidecarArgs('/p', '/c/n.conf')).toEqual(['-p', '/p', '-e', 'stderr', '-c', '/c/n.conf', '-g', 'daemon off;']);
    expect(sidecarCommandLine()).toBe("nginx -p /tmp/nginx -e stderr -c /etc/apisec/nginx.conf -g 'daemon off;'");
  });

  it('keeps the config outside the writable prefix', () => {
    expect(SIDECAR_CONFIG_DIR.startsWith(`${SIDECAR_PREFIX}/`)).toBe(false);
    expect(SIDECAR_PREFIX.startsWith(`${SIDECAR_CONFIG_DIR}/`)).toBe(false);
  });

  it('is a non-root container with a read-only root filesystem, mounting exactly its two volumes', () => {
    const c = sidecarContainer({ image: 'nginx:1.27-alpine', port: 8080 });
    expect(c).toMatchObject({ name: 'apisec-sidecar', image: 'nginx:1.27-alpine', command: ['nginx'], args: [...SIDECAR_ARGS] });
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.securityContext.runAsUser).toBeGreaterThan(0);
    expect(c.volumeMounts).toEqual([
      { name: 'apisec-config', mountPath: '/etc/apisec', readOnly: true },
      { name: 'apisec-nginx-prefix', mountPath: '/tmp/nginx' },
    ]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/.apisec/healthz', port: 8080 });
    const volumes = sidecarVolumes({ name: 'orders' });
    expect(volumes).toEqual([
      { name: 'apisec-config', configMap: { name: 'apisec-orders-sidecar' } },
      { name: 'apisec-nginx-prefix', emptyDir: {} },
    ]);
    expect(c.volumeMounts.map((m) => m.name)).toEqual(volumes.map((v) => v.name));
  });

  it('hands out copies, so a caller cannot change the contract', () => {
    const c = sidecarContainer({ image: 'x', port: 8080 });
    c.args.push('-q');
    c.volumeMounts[0]!.mountPath = '/elsewhere';
    expect(sidecarContainer({ image: 'x', port: 8080 }).args).toEqual([...SIDECAR_ARGS]);
    expect(sidecarContainer({ image: 'x', port: 8080 }).volumeMounts[0]!.mountPath).toBe('/etc/apisec');
  });
});
