// How the sidecar container starts: the one definition shared by the docs, the example, the traffic
// tests (which start nginx with these args, only in temp directories) and the mutating webhook
// (src/webhook/patch.ts, which injects exactly sidecarContainer() and sidecarVolumes()).
//
// The contract nginx needs in a read-only container: the ConfigMap mounted read-only at
// SIDECAR_CONFIG_DIR, and an EMPTY emptyDir at SIDECAR_PREFIX; nginx creates everything else there
// itself (pid file, temp directories). `-e stderr` keeps the startup error log off the binary's
// compiled-in path (e.g. /var/log/nginx/error.log), which a read-only root filesystem cannot open.
import { objectName } from './labels.ts';
import type { PolicyRef } from './types.ts';

/** The ConfigMap key holding nginx.conf, and so the config file's name in the mount. */
export const SIDECAR_CONFIG_KEY = 'nginx.conf';

/** Writable prefix (-p): an emptyDir, nothing pre-created in it. */
export const SIDECAR_PREFIX = '/tmp/nginx';
/** Where the ConfigMap is mounted, read-only. */
export const SIDECAR_CONFIG_DIR = '/etc/apisec';
export const SIDECAR_CONFIG_FILE = `${SIDECAR_CONFIG_DIR}/${SIDECAR_CONFIG_KEY}`;
/** `command` replaces the image's entrypoint, whose scripts would try to write under /etc/nginx. */
export const SIDECAR_COMMAND: readonly string[] = ['nginx'];
export const SIDECAR_CONTAINER_NAME = 'apisec-sidecar';
export const SIDECAR_CONFIG_VOLUME = 'apisec-config';
export const SIDECAR_PREFIX_VOLUME = 'apisec-nginx-prefix';
/** The image injected by default (--sidecar-image) and shown in the docs: any nginx with `nginx` on its PATH. */
export const SIDECAR_IMAGE = 'nginx:1.27-alpine';
/** The nginx user of the official nginx images; any non-root uid works. */
export const SIDECAR_RUN_AS_USER = 101;
/** An nginx with a few rate-limit zones: small requests, a memory limit well above what it uses. */
export const SIDECAR_RESOURCES = { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi' } } as const;

/** nginx's arguments for a prefix and a config file: the container's, or a test's temp directories. */
export function sidecarArgs(prefix: string, configFile: string): string[] {
  return ['-p', prefix, '-e', 'stderr', '-c', configFile, '-g', 'daemon off;'];
}

export const SIDECAR_ARGS: readonly string[] = sidecarArgs(SIDECAR_PREFIX, SIDECAR_CONFIG_FILE);

/** The whole start line, as a shell would show it (for docs and the config's header comment). */
export function sidecarCommandLine(): string {
  return [...SIDECAR_COMMAND, ...SIDECAR_ARGS].map((a) => (/^[A-Za-z0-9_./=-]+$/.test(a) ? a : `'${a}'`)).join(' ');
}

export interface SidecarVolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface SidecarContainer {
  name: string;
  image: string;
  command: string[];
  args: string[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: number } };
  resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  securityContext: {
    runAsNonRoot: true;
    runAsUser: number;
    readOnlyRootFilesystem: true;
    allowPrivilegeEscalation: false;
    capabilities: { drop: ['ALL'] };
    seccompProfile: { type: 'RuntimeDefault' };
  };
  volumeMounts: SidecarVolumeMount[];
}

export type SidecarVolume = { name: string; configMap: { name: string } } | { name: string; emptyDir: Record<string, never> };

export const SIDECAR_VOLUME_MOUNTS: readonly SidecarVolumeMount[] = [
  { name: SIDECAR_CONFIG_VOLUME, mountPath: SIDECAR_CONFIG_DIR, readOnly: true },
  { name: SIDECAR_PREFIX_VOLUME, mountPath: SIDECAR_PREFIX },
];

/** The name of the ConfigMap the operator writes for a policy's sidecar. */
export function sidecarConfigMapName(policy: Pick<PolicyRef, 'name'>): string {
  return objectName(['apisec', policy.name, 'sidecar'], 253);
}

/** The sidecar container for a pod: nginx on `port`, non-root, read-only root filesystem (Pod Security "restricted"). */
export function sidecarContainer(opts: { image: string; port: number }): SidecarContainer {
  return {
    name: SIDECAR_CONTAINER_NAME,
    image: opts.image,
    command: [...SIDECAR_COMMAND],
    args: [...SIDECAR_ARGS],
    ports: [{ name: 'http', containerPort: opts.port }],
    readinessProbe: { httpGet: { path: '/.apisec/healthz', port: opts.port } },
    resources: { requests: { ...SIDECAR_RESOURCES.requests }, limits: { ...SIDECAR_RESOURCES.limits } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_RUN_AS_USER,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: SIDECAR_VOLUME_MOUNTS.map((m) => ({ ...m })),
  };
}

/** The pod volumes the container's mounts refer to. */
export function sidecarVolumes(policy: Pick<PolicyRef, 'name'>): SidecarVolume[] {
  return [
    { name: SIDECAR_CONFIG_VOLUME, configMap: { name: sidecarConfigMapName(policy) } },
    { name: SIDECAR_PREFIX_VOLUME, emptyDir: {} },
  ];
}
