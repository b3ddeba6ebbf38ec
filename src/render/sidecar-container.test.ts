import {
  SIDECAR_ARGS,
  SIDECAR_COMMAND,
  SIDECAR_CONFIG_DIR,
  SIDECAR_CONFIG_FILE,
  SIDECAR_PREFIX,
  SIDECAR_START_SCRIPT,
  sidecarArgs,
  sidecarContainer,
  sidecarVolumes,
} from './sidecar-container.ts';
import { SIDECAR_CONFIG_KEY } from './sidecar-nginx.ts';

describe('sidecar container start contract', () => {
  it('runs the start script by sh with the emptyDir prefix and the read-only ConfigMap file', () => {
    expect(SIDECAR_COMMAND).toEqual(['/bin/sh', '-c', SIDECAR_START_SCRIPT, 'apisec-sidecar']);
    expect(SIDECAR_ARGS).toEqual(['/tmp/nginx', '/etc/apisec/nginx.conf']);
    expect(SIDECAR_CONFIG_FILE).toBe(`${SIDECAR_CONFIG_DIR}/${SIDECAR_CONFIG_KEY}`);
    expect(sidecarArgs('/p', '/c/n.conf')).toEqual(['/p', '/c/n.conf']);
    // nginx in the foreground, errors on stderr, in the prefix, with the config the script wrote there.
    expect(SIDECAR_START_SCRIPT).toContain(`nginx -p "$prefix" -e stderr -c "$conf" -g 'daemon off;' &`);
    expect(SIDECAR_START_SCRIPT).toContain('kill -HUP "$pid"');
  });

  it('keeps the config outside the writable prefix', () => {
    expect(SIDECAR_CONFIG_DIR.startsWith(`${SIDECAR_PREFIX}/`)).toBe(false);
    expect(SIDECAR_PREFIX.startsWith(`${SIDECAR_CONFIG_DIR}/`)).toBe(false);
  });

  it('is a non-root container with a read-only root filesystem, mounting exactly its two volumes', () => {
    const c = sidecarContainer({ image: 'nginx:1.27-alpine', port: 8080, appPort: 3000 });
    expect(c).toMatchObject({ name: 'apisec-sidecar', image: 'nginx:1.27-alpine', command: [...SIDECAR_COMMAND], args: [...SIDECAR_ARGS] });
    expect(c.env).toEqual([{ name: 'APISEC_APP_PORT', value: '3000' }]);
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
    const c = sidecarContainer({ image: 'x', port: 8080, appPort: 1 });
    c.args.push('-q');
    c.volumeMounts[0]!.mountPath = '/elsewhere';
    expect(sidecarContainer({ image: 'x', port: 8080, appPort: 1 }).args).toEqual([...SIDECAR_ARGS]);
    expect(sidecarContainer({ image: 'x', port: 8080, appPort: 1 }).volumeMounts[0]!.mountPath).toBe('/etc/apisec');
  });
});
