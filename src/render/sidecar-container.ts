// How the sidecar container starts: the one definition shared by the docs, the example, the traffic
// tests (which run this command, only with temp directories for the two paths) and the mutating webhook
// (src/webhook/patch.ts, which injects exactly sidecarContainer() and sidecarVolumes()).
//
// The contract in a read-only container: the ConfigMap mounted read-only at SIDECAR_CONFIG_DIR, and an
// EMPTY emptyDir at SIDECAR_PREFIX. A small POSIX sh script (SIDECAR_START_SCRIPT; any nginx image has
// sh, sed and cksum) writes the config nginx runs into the prefix — the ConfigMap's file with the app's
// port filled in when the policy leaves spec.sidecar.appPort to the webhook (APISEC_APP_PORT, a number
// the webhook resolved from the pod) — starts nginx in the foreground and, every SIDECAR_RELOAD_SECONDS,
// compares the mounted file with what nginx runs: a new one that `nginx -t` accepts is swapped in and
// nginx reloaded (SIGHUP: no restart, open connections finish on the old workers); a refused one is
// logged and the old one keeps serving. TERM stops nginx gracefully (QUIT). nginx creates everything
// else in the prefix itself; `-e stderr` keeps the startup error log off the binary's compiled-in path,
// which a read-only root filesystem cannot open.
import { objectName } from './labels.ts';
import type { PolicyRef } from './types.ts';

/** The ConfigMap key holding nginx.conf, and so the config file's name in the mount. */
export const SIDECAR_CONFIG_KEY = 'nginx.conf';

/** Writable prefix (-p): an emptyDir, nothing pre-created in it. */
export const SIDECAR_PREFIX = '/tmp/nginx';
/** Where the ConfigMap is mounted, read-only. */
export const SIDECAR_CONFIG_DIR = '/etc/apisec';
export const SIDECAR_CONFIG_FILE = `${SIDECAR_CONFIG_DIR}/${SIDECAR_CONFIG_KEY}`;
/** In a policy's nginx.conf when spec.sidecar.appPort is not set: the start script puts APISEC_APP_PORT there. */
export const APP_PORT_PLACEHOLDER = '__APISEC_APP_PORT__';
/** The container's variable holding the app's port, set by the webhook on every injected sidecar. */
export const APP_PORT_ENV = 'APISEC_APP_PORT';
/** How often the sidecar compares the mounted config with the one nginx runs. */
export const SIDECAR_RELOAD_SECONDS = 5;
/** The config nginx runs, written by the start script into the prefix. */
export const SIDECAR_RUNNING_CONFIG = 'nginx.conf';

/**
 * sh -c SCRIPT apisec-sidecar PREFIX CONFIG [-t]: with -t only checks the config (as nginx -t).
 * Nothing in it comes from a policy: the two paths are the container's (or a test's), and the port
 * is refused unless it is all digits.
 */
export const SIDECAR_START_SCRIPT = `set -eu
prefix=$1 source=$2 conf=$1/${SIDECAR_RUNNING_CONFIG}
say() { echo "apisec-sidecar: $*" >&2; }
# The mounted config, with the app's port filled in, into $1.
render() {
  if grep -q ${APP_PORT_PLACEHOLDER} "$source"; then
    case \${${APP_PORT_ENV}:-} in ''|*[!0-9]*) say "${APP_PORT_ENV} must be the app's port number"; return 1;; esac
  fi
  sed "s/${APP_PORT_PLACEHOLDER}/\${${APP_PORT_ENV}:-}/g" "$source" > "$1"
}
check() { nginx -p "$prefix" -e stderr -c "$1" -t -q; }
seen=$(cksum < "$source")
render "$conf"
if [ "\${3:-}" = -t ]; then check "$conf"; exit; fi
nginx -p "$prefix" -e stderr -c "$conf" -g 'daemon off;' &
pid=$!
trap 'kill -QUIT "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT QUIT
while kill -0 "$pid" 2>/dev/null; do
  sleep ${SIDECAR_RELOAD_SECONDS} & wait $! || true
  now=$(cksum < "$source") || continue
  [ "$now" = "$seen" ] && continue
  seen=$now
  if render "$conf.next" && check "$conf.next"; then
    mv -f "$conf.next" "$conf" && kill -HUP "$pid" && say "reloaded nginx with the new config"
  else
    say "the new config was refused; still serving the previous one"
  fi
done
wait "$pid"`;

/** The container's command: sh runs the start script; its name ($0) labels its log lines. */
export const SIDECAR_COMMAND: readonly string[] = ['/bin/sh', '-c', SIDECAR_START_SCRIPT, 'apisec-sidecar'];
export const SIDECAR_CONTAINER_NAME = 'apisec-sidecar';
export const SIDECAR_CONFIG_VOLUME = 'apisec-config';
export const SIDECAR_PREFIX_VOLUME = 'apisec-nginx-prefix';
/** The image injected by default (--sidecar-image) and shown in the docs: any nginx with `nginx` and a POSIX sh on its PATH. */
export const SIDECAR_IMAGE = 'nginx:1.27-alpine';
/** The nginx user of the official nginx images; any non-root uid works. */
export const SIDECAR_RUN_AS_USER = 101;
/** An nginx with a few rate-limit zones: small requests, a memory limit well above what it uses. */
export const SIDECAR_RESOURCES = { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi' } } as const;

/** The start script's arguments for a prefix and a config file: the container's, or a test's temp directories. */
export function sidecarArgs(prefix: string, configFile: string): string[] {
  return [prefix, configFile];
}

export const SIDECAR_ARGS: readonly string[] = sidecarArgs(SIDECAR_PREFIX, SIDECAR_CONFIG_FILE);

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
  env: { name: string; value: string }[];
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

/**
 * The sidecar container for a pod: nginx on `port` in front of the app on `appPort` (127.0.0.1),
 * non-root, read-only root filesystem (Pod Security "restricted").
 */
export function sidecarContainer(opts: { image: string; port: number; appPort: number }): SidecarContainer {
  return {
    name: SIDECAR_CONTAINER_NAME,
    image: opts.image,
    command: [...SIDECAR_COMMAND],
    args: [...SIDECAR_ARGS],
    env: [{ name: APP_PORT_ENV, value: String(opts.appPort) }],
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
