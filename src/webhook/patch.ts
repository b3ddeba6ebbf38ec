// The change the webhook makes to a pod (pure): the JSON Patch (RFC 6902) that adds the sidecar of
// src/render/sidecar-container.ts as a native sidecar (an init container with restartPolicy Always, so
// it starts before the app and stops after it), its two volumes, and the injected-by annotation; and,
// when the Services that select the pod send traffic to a port NAME, that name moved from the app's
// container to the sidecar's port (the app's port keeps its number under another name), so traffic
// passes the sidecar without editing the user's Service. A pod the patch would break (the sidecar's
// port or a volume name already in use, the moved port not the policy's appPort, or no appPort set and
// none to resolve) gets no patch and a reason instead; a pod that already carries the sidecar gets none either (reinvocation, upgrades).
import { SIDECAR_CONTAINER_NAME, SIDECAR_RELOAD_SECONDS, SIDECAR_VOLUME_MOUNTS, sidecarContainer, sidecarVolumes, type SidecarContainer } from '../render/sidecar-container.ts';
import { ANNOTATION_CONFIG, ANNOTATION_INJECTED, ANNOTATION_RELOAD } from '../compliance/injection.ts';
import { manualWiring } from '../render/index.ts';
import type { ServiceLike } from '../render/types.ts';

export { ANNOTATION_INJECTED };
/** The sidecar's port name when it takes none of the app's (15 characters at most, IANA_SVC_NAME). */
export const SIDECAR_PORT_NAME = 'apisec-proxy';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface ContainerLike {
  name: string;
  image?: string;
  ports?: ContainerPort[];
}

export interface PodLike {
  metadata?: { name?: string; generateName?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: ContainerLike[]; initContainers?: ContainerLike[]; volumes?: { name: string }[] };
}

export type JsonPatchOp = { op: 'add' | 'replace'; path: string; value: unknown };

export interface InjectOptions {
  policy: string;
  image: string;
  /** spec.sidecar.port and spec.sidecar.appPort (unset: resolved from the port the Services target in this pod). */
  port: number;
  appPort?: number | undefined;
  /** The Services behind the policy that select this pod. */
  services: readonly ServiceLike[];
  /** Native sidecars (Kubernetes 1.29+; default): else the sidecar is appended to the containers. */
  native?: boolean;
  /** The digest of the policy's sidecar ConfigMap now, stamped on the pod (ANNOTATION_CONFIG). */
  configDigest?: string | undefined;
}

export type Injection =
  | { changed: false; reason: string; alreadyInjected?: boolean }
  | { changed: true; annotateOnly: true; patch: JsonPatchOp[]; reason: string; movedPort?: undefined; manual: [] }
  | { changed: true; patch: JsonPatchOp[]; container: SidecarContainer; appPort: number; movedPort?: { name: string; container: string; renamedTo: string }; manual: string[] };

/** A JSON Pointer token (RFC 6901): `~` and `/` escaped. */
export const pointerToken = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** A copy of doc with the ops this webhook makes applied (add, replace; `-` appends): for docs and tests. */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let at: Record<string, unknown> | unknown[] = out;
    for (const p of parts) at = (at as Record<string, unknown>)[p] as Record<string, unknown>;
    if (Array.isArray(at) && op.op === 'add') at.splice(last === '-' ? at.length : Number(last), 0, op.value);
    else (at as Record<string, unknown>)[last] = op.value;
  }
  return out as T;
}

const isTcp = (protocol: string | undefined): boolean => protocol === undefined || protocol === 'TCP';

/** Why the patch would break the pod, if it would: a port or volume name the sidecar brings is taken. */
function conflict(pod: PodLike, port: number): string | undefined {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const taken = all.find((c) => c.ports?.some((p) => p.containerPort === port && isTcp(p.protocol)));
  if (taken) return `container ${taken.name} already uses port ${port}, the sidecar's port (spec.sidecar.port)`;
  const ours = new Set(SIDECAR_VOLUME_MOUNTS.map((m) => m.name));
  const volume = pod.spec?.volumes?.find((v) => ours.has(v.name));
  if (volume) return `the pod already has a volume named ${volume.name}, a name the sidecar needs`;
  return undefined;
}

/** The TCP targetPorts of the Services, by name and by number, with the Service port each comes from. */
function targets(services: readonly ServiceLike[]): { names: Map<string, string>; numbers: { service: string; index: number; port: number; target: number }[] } {
  const names = new Map<string, string>();
  const numbers: { service: string; index: number; port: number; target: number }[] = [];
  for (const svc of services) {
    (svc.spec?.ports ?? []).forEach((p, index) => {
      if (!isTcp(p.protocol)) return;
      const target = p.targetPort ?? p.port;
      if (typeof target === 'string') {
        if (!names.has(target)) names.set(target, svc.metadata.name);
      } else numbers.push({ service: svc.metadata.name, index, port: p.port, target });
    });
  }
  return { names, numbers };
}

/** `app-<name>`, unique among the container's port names, at most 15 characters and not ending in `-`. */
export function renamedPort(name: string, taken: ReadonlySet<string>): string {
  // One more candidate than names taken: one of them is free.
  for (let i = 1; i <= taken.size; i++) {
    const candidate = `${i === 1 ? 'app-' : `app${i}-`}${name}`.slice(0, 15).replace(/-+$/, '');
    if (!taken.has(candidate)) return candidate;
  }
  return `app${taken.size + 1}-${name}`.slice(0, 15).replace(/-+$/, '');
}

type Move = { name: string; containerIndex: number; portIndex: number; container: string; renamedTo: string };
type PortMove = { ok: true; appPort: number; move?: Move; manual: string[] } | { ok: false; reason: string };

const NO_APP_PORT = 'set spec.sidecar.appPort: it is not set and';

/** The explicit appPort, or the one numeric target the Services send past the sidecar; else why there is none. */
function numericAppPort(opts: InjectOptions, numbers: readonly { target: number }[], manual: string[]): PortMove {
  if (opts.appPort !== undefined) return { ok: true, appPort: opts.appPort, manual };
  const ports = [...new Set(numbers.map((n) => n.target).filter((t) => t !== opts.port))];
  if (ports.length === 1) return { ok: true, appPort: ports[0]!, manual };
  if (ports.length === 0) return { ok: false, reason: `${NO_APP_PORT} the Services send traffic to no port of the app (only to the sidecar's port ${opts.port})` };
  return { ok: false, reason: `${NO_APP_PORT} the Services send traffic to several ports (${ports.join(', ')})` };
}

/** Which port name moves to the sidecar, the app's port the sidecar forwards to, and what is left for the user to wire. */
function planPorts(pod: PodLike, opts: InjectOptions): PortMove {
  const { names, numbers } = targets(opts.services);
  const manual = numbers.filter((n) => n.target !== opts.port).map((n) => `Service ${n.service} port ${n.port} sends traffic to ${n.target}, past the sidecar: ${manualWiring(n.service, n.index, opts.port)}`);
  if (names.size === 0) return numericAppPort(opts, numbers, manual);
  if (names.size > 1) {
    const several = `the Services target several port names (${[...names.keys()].join(', ')}); the sidecar takes none: point them at port ${opts.port}`;
    if (opts.appPort === undefined) return { ok: false, reason: `${NO_APP_PORT} ${several}` };
    return { ok: true, appPort: opts.appPort, manual: [...manual, several] };
  }
  const [name, service] = [...names][0]!;
  const containers = pod.spec?.containers ?? [];
  for (const [containerIndex, c] of containers.entries()) {
    const portIndex = (c.ports ?? []).findIndex((p) => p.name === name && isTcp(p.protocol));
    if (portIndex < 0) continue;
    const found = c.ports![portIndex]!;
    if (opts.appPort !== undefined && found.containerPort !== opts.appPort) {
      return { ok: false, reason: `Service ${service} targets port ${name}, which is ${found.containerPort} on container ${c.name}, but the sidecar would forward to spec.sidecar.appPort ${opts.appPort}: set appPort to ${found.containerPort}` };
    }
    const taken = new Set((c.ports ?? []).map((p) => p.name).filter((n): n is string => n !== undefined));
    return { ok: true, appPort: found.containerPort, move: { name, containerIndex, portIndex, container: c.name, renamedTo: renamedPort(name, taken) }, manual };
  }
  const unnamed = `Service ${service} targets port ${name}, which no container of the pod names`;
  if (opts.appPort === undefined) return { ok: false, reason: `${NO_APP_PORT} ${unnamed}` };
  return { ok: true, appPort: opts.appPort, manual: [...manual, `${unnamed}: name the sidecar's port ${opts.port} ${name}`] };
}

const hasSidecar = (pod: PodLike): boolean => [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => c.name === SIDECAR_CONTAINER_NAME);

/** Adds these annotations to the pod (creating its annotations when it has none), in one op or one per key. */
export function annotationOps(pod: PodLike, values: Record<string, string>): JsonPatchOp[] {
  if (!pod.metadata?.annotations) return [{ op: 'add', path: '/metadata/annotations', value: values }];
  return Object.entries(values).map(([k, v]) => ({ op: 'add' as const, path: `/metadata/annotations/${pointerToken(k)}`, value: v }));
}

/** The injected-by annotation (the policy's status counts the pods that carry it), the config nginx starts with, and that it reloads changes. */
const annotate = (pod: PodLike, opts: Pick<InjectOptions, 'policy' | 'configDigest'>): JsonPatchOp[] =>
  annotationOps(pod, {
    [ANNOTATION_INJECTED]: opts.policy,
    ...(opts.configDigest ? { [ANNOTATION_CONFIG]: opts.configDigest } : {}),
    [ANNOTATION_RELOAD]: `${SIDECAR_RELOAD_SECONDS}s`,
  });

/** Whether a cluster of this version (/version gitVersion, e.g. v1.35.4) runs native sidecars by default: 1.29 or later. */
export function supportsNativeSidecars(gitVersion: string): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  if (!m) return true; // unknown: assume a current cluster
  return Number(m[1]) > 1 || Number(m[2]) >= 29;
}

/** The ops that add the sidecar (native, or next to the app), its volumes and the annotation, and move the port name. */
function sidecarOps(pod: PodLike, opts: InjectOptions, plan: Extract<PortMove, { ok: true }>): { patch: JsonPatchOp[]; container: SidecarContainer } {
  const { move, appPort } = plan;
  const native = opts.native ?? true;
  const base = sidecarContainer({ image: opts.image, port: opts.port, appPort });
  const ports = [{ name: move?.name ?? SIDECAR_PORT_NAME, containerPort: opts.port, protocol: 'TCP' }];
  const container = native ? { ...base, ports, restartPolicy: 'Always' as const } : { ...base, ports };
  const patch: JsonPatchOp[] = [];
  if (move) patch.push({ op: 'replace', path: `/spec/containers/${move.containerIndex}/ports/${move.portIndex}/name`, value: move.renamedTo });
  const inits = pod.spec?.initContainers?.length;
  // First of the init containers: the other init containers can already reach the network through it.
  if (native) patch.push(inits ? { op: 'add', path: '/spec/initContainers/0', value: container } : { op: 'add', path: '/spec/initContainers', value: [container] });
  // Before 1.29: next to the app (it starts with it, not before; Services still find its port by name).
  else patch.push({ op: 'add', path: '/spec/containers/-', value: container });
  const volumes = sidecarVolumes({ name: opts.policy });
  if (pod.spec?.volumes?.length) for (const v of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
  else patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  patch.push(...annotate(pod, opts));
  return { patch, container };
}

/** The patch for one pod, or why there is none. */
export function injectSidecar(pod: PodLike, opts: InjectOptions): Injection {
  if (hasSidecar(pod)) {
    const reason = `the pod already has a container named ${SIDECAR_CONTAINER_NAME}`;
    // Left as it is, but counted as carrying the sidecar (a copy of an injected pod, a hand-made one).
    if (pod.metadata?.annotations?.[ANNOTATION_INJECTED] !== opts.policy) return { changed: true, annotateOnly: true, patch: annotationOps(pod, { [ANNOTATION_INJECTED]: opts.policy }), reason, manual: [] };
    return { changed: false, alreadyInjected: true, reason };
  }
  const broken = conflict(pod, opts.port);
  if (broken) return { changed: false, reason: broken };
  const ports = planPorts(pod, opts);
  if (!ports.ok) return { changed: false, reason: ports.reason };
  const { patch, container } = sidecarOps(pod, opts, ports);
  const movedPort = ports.move ? { name: ports.move.name, container: ports.move.container, renamedTo: ports.move.renamedTo } : undefined;
  return { changed: true, patch, container, appPort: ports.appPort, ...(movedPort ? { movedPort } : {}), manual: ports.manual };
}
