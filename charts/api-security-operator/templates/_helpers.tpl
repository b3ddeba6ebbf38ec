{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "apisec.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, plus the chart name unless it is already in it. */}}
{{- define "apisec.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "apisec.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator's pods; never change them in an upgrade (selectors are immutable). */}}
{{- define "apisec.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apisec.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "apisec.labels" -}}
helm.sh/chart: {{ include "apisec.chart" . }}
{{ include "apisec.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: api-security-operator
{{- end }}

{{/* The ServiceAccount the operator runs as; the RBAC bindings name it. */}}
{{- define "apisec.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "apisec.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator's Node.js flags: nodeOptions, or a 16 MB young generation and an old space of the memory
limit minus 128 MiB (at least 64), so that V8 collects before the pod reaches its limit instead of
growing its heap with the garbage of a cold start (bench/footprint.ts: 1,000 policies at 379 MB RSS
without a cap, 217 MB with 128 MB). A limit in other units than Mi/Gi/M/G gets no old-space flag.
*/}}
{{- define "apisec.nodeOptions" -}}
{{- if .Values.nodeOptions }}
{{- .Values.nodeOptions }}
{{- else }}
{{- $limit := toString (((.Values.resources).limits).memory | default "") }}
{{- $mib := 0 }}
{{- if hasSuffix "Gi" $limit }}{{ $mib = mul (trimSuffix "Gi" $limit | int) 1024 }}
{{- else if hasSuffix "Mi" $limit }}{{ $mib = trimSuffix "Mi" $limit | int }}
{{- else if hasSuffix "G" $limit }}{{ $mib = div (mul (trimSuffix "G" $limit | int) 1000000000) 1048576 }}
{{- else if hasSuffix "M" $limit }}{{ $mib = div (mul (trimSuffix "M" $limit | int) 1000000) 1048576 }}
{{- end }}
{{- if gt (int $mib) 0 }}
{{- printf "--max-semi-space-size=16 --max-old-space-size=%d" (max 64 (sub $mib 128) | int) }}
{{- else }}
{{- "--max-semi-space-size=16" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "apisec.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The permissions the operator needs, exactly what the code uses (test/support/operator.ts operatorRules).
No wildcards, no Secrets, and `patch` (server-side apply) rather than `update` on Ingresses.
On namespaced resources: granted cluster-wide, or in each watched namespace. The Lease is not here: it
gets a Role in the release namespace.
*/}}
{{- define "apisec.namespacedRules" -}}
- apiGroups: [apisec.dev]
  resources: [apisecuritypolicies]
  verbs: [get, list, watch, patch]
- apiGroups: [apisec.dev]
  resources: [apisecuritypolicies/status]
  verbs: [get, patch]
- apiGroups: [apisec.dev]
  resources: [apisecuritypolicies/finalizers]
  verbs: [update]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, patch, delete]
# Secrets labelled apisec.dev/client-ca=true or apisec.dev/api-keys=true, as metadata only
# (PartialObjectMetadata, selected by label): whether the Secret a policy names consents to that use. No get: the operator reads no Secret's
# data. RBAC cannot narrow list and watch to metadata or to a label; docs/helm.md says what this grants.
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch]
# Events: the operator records its own, and reads the guard's SuspiciousActivity ones (selected by label).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [get, list, watch, create, patch]
# Traefik Middlewares owned by policies, when the traefik.io API is installed (checked by discovery).
- apiGroups: [traefik.io]
  resources: [middlewares]
  verbs: [get, list, watch, create, patch, delete]
# HTTPRoute targets (patch: only the marker annotation apisec.dev/policy, by server-side apply) and the
# Gateways they attach to (read only), when the Gateway API is installed.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, patch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways]
  verbs: [get, list, watch]
# Envoy Gateway's SecurityPolicies and BackendTrafficPolicies owned by policies, when its CRDs are installed.
- apiGroups: [gateway.envoyproxy.io]
  resources: [securitypolicies, backendtrafficpolicies]
  verbs: [get, list, watch, create, patch, delete]
# PolicyReports per namespace, when the wgpolicyk8s.io API is installed (the operator checks by discovery).
- apiGroups: [wgpolicyk8s.io]
  resources: [policyreports]
  verbs: [get, list, watch, create, patch, delete]
{{- if .Values.sidecarInjection.enabled }}
# With sidecarInjection: pods, listed and watched as metadata only (labels and the injected-by annotation),
# so each sidecar policy names the pods behind its Services that run without the sidecar. No get; RBAC
# cannot narrow list and watch to metadata (docs/helm.md says what this grants).
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
{{- end }}
{{- end }}

{{/*
On cluster-scoped resources, which only a ClusterRole can grant, also when one namespace is watched:
ClusterApiSecurityPolicy baselines (read, and their status written) and Namespaces (read, for the
labels baselines select by; with one watched namespace the operator lists only that one).
*/}}
{{- define "apisec.clusterRules" -}}
- apiGroups: [apisec.dev]
  resources: [clusterapisecuritypolicies]
  verbs: [get, list, watch]
- apiGroups: [apisec.dev]
  resources: [clusterapisecuritypolicies/status]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gatewayclasses]
  verbs: [get, list, watch]
{{- end }}

{{/*
With metrics.auth=kubernetes, the reviews the /metrics filter makes as the operator: whose token a
scrape carries (TokenReview) and whether that user may get /metrics (SubjectAccessReview). Both are
cluster-scoped and create-only (nothing is stored), so they are in the ClusterRole also for one namespace.
*/}}
{{- define "apisec.metricsAuthRules" -}}
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- end }}

{{/* Where metrics.certSecret is mounted (--metrics-cert-dir). */}}
{{- define "apisec.metricsCertDir" -}}
/etc/apisec/metrics-certs
{{- end }}

{{/* The sidecar injection webhook: its Service and Secret, and where the certificate is mounted. */}}
{{- define "apisec.webhookName" -}}
{{- printf "%s-webhook" (include "apisec.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "apisec.webhookCertSecret" -}}
{{- default (printf "%s-cert" (include "apisec.webhookName" .)) .Values.sidecarInjection.certSecret }}
{{- end }}

{{- define "apisec.webhookCertDir" -}}
/etc/apisec/webhook-certs
{{- end }}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "apisec.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "leaderElection.enabled=false allows only replicaCount: 1 (replicas without a leader would all write)" }}
{{- end }}
{{- if and .Values.metrics.certSecret (ne .Values.metrics.auth "kubernetes") }}
{{- fail "metrics.certSecret serves HTTPS, which only metrics.auth=kubernetes does: set metrics.auth=kubernetes or drop metrics.certSecret" }}
{{- end }}
{{- if and .Values.sidecarInjection.certSecret (not .Values.sidecarInjection.caBundle) }}
{{- fail "sidecarInjection.certSecret needs sidecarInjection.caBundle: the API server must trust the webhook's certificate" }}
{{- end }}
{{- if and .Values.sidecarInjection.enabled (has (int .Values.sidecarInjection.port) (list (int .Values.metrics.port) (int .Values.healthProbe.port))) }}
{{- fail "sidecarInjection.port must differ from metrics.port and healthProbe.port" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.healthProbe.port) }}
{{- fail "healthProbe.port must differ from metrics.port (each is its own container port)" }}
{{- end }}
{{- end }}

{{/* The guard: its own name, and selector labels that the operator's selectors never match. */}}
{{- define "apisec.guardName" -}}
{{- printf "%s-guard" (include "apisec.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "apisec.guardSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-guard" (include "apisec.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "apisec.guardLabels" -}}
helm.sh/chart: {{ include "apisec.chart" . }}
{{ include "apisec.guardSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: api-security-operator
app.kubernetes.io/component: guard
{{- end }}

{{/* The URL the operator points data planes at (--guard-url). */}}
{{- define "apisec.guardURL" -}}
{{- printf "http://%s.%s.svc:%d" (include "apisec.guardName" .) .Release.Namespace (int .Values.guard.service.port) }}
{{- end }}

{{/*
What the guard may do, exactly what it uses (test/support/guard.ts guardRules): read policies and the
Secrets they reference (only those labelled apisec.dev/api-keys=true are listed, by label selector;
RBAC cannot narrow list and watch by label), and record SuspiciousActivity Events.
*/}}
{{- define "apisec.guardRules" -}}
- apiGroups: [apisec.dev]
  resources: [apisecuritypolicies]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
