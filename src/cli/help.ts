// Help texts. `name` is "apisec", or "kubectl apisec" when run as a kubectl plugin.
import { weightsLine } from './rules.ts';

export const EXIT_CODES = `Exit codes:
  0  passed (check), or done (render, report)
  1  the check failed: a control fails (see --fail-on), a policy scores below --min-score,
     or an API is not covered by any policy (unless --allow-uncovered)
  2  usage error, unreadable or invalid input (YAML syntax with file and line, a policy the
     schema refuses with the field path), or the cluster cannot be reached`;

export const mainHelp = (name: string): string => `${name} — check, render and report ApiSecurityPolicies (apisec.dev/v1alpha1)

Usage:
  ${name} check FILE|DIR|- ...        offline compliance check of manifests, for CI
  ${name} render -f FILE|DIR|- ...    print the objects the operator would write, offline
  ${name} import FILE|DIR|- ...       ingress-nginx annotated Ingresses → ApiSecurityPolicies
  ${name} report                      every API in a cluster with its policy, score and failing controls
  ${name} guard [--port PORT]         run the external authorization service the data planes call

Run "${name} COMMAND --help" for the flags and examples of a command.

Examples:
  ${name} check deploy/ --min-score 80 -o sarif > apisec.sarif
  helm template my-release ./chart | ${name} check -
  ${name} render -f examples/public-api.yaml
  ${name} report --context prod

Flags:
  -h, --help     show help
      --version  print the version
      --debug    on an error, print the stack trace too

${EXIT_CODES}

Needs Node.js >= 22.18: it runs its TypeScript sources directly.
`;

const INPUT = `Input: files, directories (read recursively: *.yaml, *.yml, *.json; hidden folders and
node_modules are skipped) or "-" for stdin. Multi-document YAML, kubectl "List" output, Helm template
and Kustomize output all work. ApiSecurityPolicies, Ingresses (networking.k8s.io/v1) and Services (v1)
are read; every other kind is ignored.`;

const SETTINGS = `  -n, --namespace NS           namespace of objects that name none (default "default")
      --ingress-class C=P      data plane of an ingress class, P one of ingress-nginx|traefik|haproxy
                               (repeatable; adds to nginx, ingress-nginx, traefik, haproxy), as the
                               operator's flag of the same name
      --guard-url URL          the operator's --guard-url: jwt, oidc and apiKey without authURL are
                               judged as decided by the apisec guard there (else Unsupported)
      --stdin-filename NAME    how stdin is named in reports (default "stdin")`;

export const checkHelp = (name: string): string => `${name} check — offline compliance check of ApiSecurityPolicies and the APIs they protect

Usage: ${name} check [flags] FILE|DIR|- ...

Every policy is validated with the CRD's schema and evaluated control by control with the operator's own
compliance engine (the same result, score and remediation as in the policy's status). Ingresses, and
Services of type LoadBalancer or NodePort, that no policy targets (directly or as the backend of a
targeted Ingress) are listed as uncovered. Score weights: ${weightsLine()}.

${INPUT}

Flags:
  -f, --filename PATH          input, like a positional argument (repeatable)
  -o, --output FORMAT          table (default), json, sarif (SARIF 2.1.0, for code scanning) or junit
      --fail-on LEVEL          fail (default): exit 1 when a control fails; warn: also on warnings
                               and unprotected targets; never: control results do not fail the run
      --min-score N            exit 1 when a policy scores below N (0-100, default 0)
      --allow-uncovered        APIs without a policy do not fail the run (still listed)
${SETTINGS}
      --debug                  on an error, print the stack trace too
  -h, --help                   show this help

Examples:
  ${name} check examples/
  helm template my-release ./chart | ${name} check - --stdin-filename chart.yaml
  kustomize build overlays/prod | ${name} check - --min-score 80 --fail-on warn
  ${name} check deploy/ -o sarif > apisec.sarif      # upload with github/codeql-action/upload-sarif
  ${name} check deploy/ -o junit > apisec-junit.xml

Colour is used only on a terminal, and never when NO_COLOR is set.

${EXIT_CODES}
`;

export const renderHelp = (name: string): string => `${name} render — print the objects the operator would write, offline

Usage: ${name} render [flags] -f FILE|DIR|- ...

For every policy in Enforce mode, as YAML documents: the operator's annotations on each target Ingress
(a partial Ingress, exactly the server-side apply the operator sends: other annotations are never
touched) and every object it generates (NetworkPolicies, ...). Audit-mode policies write nothing. Notes
about targets that are missing, conflicted or unsupported go to stderr. ownerReferences carry the
policy's uid, which exists only in a cluster: offline it is metadata.uid from the input, or empty.

${INPUT}

Flags:
  -f, --filename PATH          input (repeatable; positional arguments work too)
      --provider P             render for data plane P instead (ingress-nginx|traefik|haproxy|envoy-gateway):
                               every Ingress class as if it mapped to P; envoy-gateway as if each target
                               Ingress were an HTTPRoute of that name. First, as comments, each control
                               whose fidelity differs from today's data plane, now and there
${SETTINGS}
      --debug                  on an error, print the stack trace too
  -h, --help                   show this help

Examples:
  ${name} render -f examples/public-api.yaml
  ${name} import legacy.yaml > p.yaml && ${name} render --provider envoy-gateway p.yaml legacy.yaml
  helm template my-release ./chart | ${name} render -f -
  ${name} render -f deploy/ | kubectl diff --server-side -f -

${EXIT_CODES}
`;

export const reportHelp = (name: string): string => `${name} report — every API in a cluster with its policy, score and failing controls

Usage: ${name} report [flags]

Lists each Ingress host and path (and each targeted Service) with the ApiSecurityPolicy that governs it,
its mode, and the score and failing controls the operator wrote in the policy's status ("-" until the
operator has reconciled it; "(stale)" when the status is older than the spec), then the APIs no policy
covers: Ingresses, and LoadBalancer or NodePort Services. Reads only: list on apisecuritypolicies,
ingresses and services.

Flags:
      --kubeconfig PATH        kubeconfig (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME           kubeconfig context (default: the current context)
  -n, --namespace NS           only this namespace (default: all namespaces)
  -o, --output FORMAT          table (default) or json
      --request-timeout DUR    give up on the cluster after this long, e.g. 10s, 1m (default 30s)
      --debug                  on an error, print the stack trace too
  -h, --help                   show this help

Examples:
  ${name} report
  ${name} report --context prod -n shop
  KUBECONFIG=~/.kube/staging ${name} report -o json | jq '.apis[] | select(.policy == null)'

${EXIT_CODES}
`;

export const importHelp = (name: string): string => `${name} import — ingress-nginx annotated Ingresses as ApiSecurityPolicies

Usage: ${name} import [flags] FILE|DIR|- ...

For each Ingress with nginx.ingress.kubernetes.io/ annotations, prints the ApiSecurityPolicy that declares
the same controls (targeting that Ingress, provider ingress-nginx), preceded by a comment listing every
ingress-nginx annotation it does not carry over and why (snippets, values a policy refuses, settings that
are not security controls). ingress-nginx's own defaults are made explicit: ssl-redirect on an Ingress
with TLS, a burst of 5 × the rate, CORS for every origin with credentials (refused: credentials are
dropped), ModSecurity in detection mode. Every policy printed passes the CRD schema. Then
"${name} check" or "${name} render" shows what the operator would make of it, on any data plane.

Carried over: ssl-redirect, force-ssl-redirect, auth-url, auth-response-headers, auth-tls-secret,
auth-tls-verify-client, auth-tls-verify-depth, auth-tls-pass-certificate-to-upstream, limit-rps,
limit-rpm, limit-burst-multiplier, limit-connections, allowlist-/whitelist-source-range,
denylist-source-range, enable-cors and cors-*, proxy-body-size, enable-modsecurity,
enable-owasp-core-rules, enable-access-log.

${INPUT}

Flags:
  -f, --filename PATH          input (repeatable; also as arguments)
  -n, --namespace NS           namespace of Ingresses that name none (default "default")
      --stdin-filename NAME    how stdin is named in the comments (default "stdin")
  -h, --help                   show help

Examples:
  kubectl get ingress -A -o yaml | ${name} import - > policies.yaml
  ${name} import legacy/ingresses/ && ${name} check policies.yaml legacy/ingresses/
`;
