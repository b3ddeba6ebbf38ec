// What Envoy Gateway's status.ancestors says of the policy's objects: only a refusal for the current
// generation counts, and its text is the data plane's, so it is escaped and clipped.
import type { KubeObject } from '../k8s/resources.ts';
import { dataPlaneRefusals, type AncestorStatus } from './data-plane-status.ts';

const sp = (ancestors: AncestorStatus[], generation = 2): KubeObject => ({ apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'SecurityPolicy', metadata: { name: 'apisec-p-x', namespace: 'shop', generation }, status: { ancestors } }) as KubeObject;
const at = (name: string, status: string, observedGeneration?: number, extra: Partial<AncestorStatus['ancestorRef']> = {}): AncestorStatus => ({
  ancestorRef: { name, kind: 'Gateway', ...extra },
  controllerName: 'gateway.envoyproxy.io/gatewayclass-controller',
  conditions: [{ type: 'Accepted', status, reason: status === 'True' ? 'Accepted' : 'Conflicted', message: 'another SecurityPolicy has already attached to it', ...(observedGeneration !== undefined ? { observedGeneration } : {}) }],
});

describe('dataPlaneRefusals', () => {
  it('names each Gateway that refused the object, with the data plane’s reason', () => {
    expect(dataPlaneRefusals([sp([at('eg', 'False', 2), at('other', 'True', 2), at('edge', 'False', 2, { namespace: 'infra' })])])).toEqual([
      { gateway: 'shop/eg', message: 'gateway.envoyproxy.io/gatewayclass-controller did not accept SecurityPolicy apisec-p-x for Gateway shop/eg (Conflicted: another SecurityPolicy has already attached to it)' },
      { gateway: 'infra/edge', message: expect.stringContaining('for Gateway infra/edge') },
    ]);
  });

  it('ignores no status, acceptance, other ancestor kinds and conditions of an older generation', () => {
    expect(dataPlaneRefusals([sp([])])).toEqual([]);
    expect(dataPlaneRefusals([{ ...sp([]), status: undefined } as KubeObject])).toEqual([]);
    expect(dataPlaneRefusals([sp([at('eg', 'True', 2)])])).toEqual([]);
    expect(dataPlaneRefusals([sp([at('eg', 'False', 1)], 2)])).toEqual([]);
    expect(dataPlaneRefusals([sp([at('eg', 'False', 2, { kind: 'Service' })])])).toEqual([]);
  });

  it('escapes what the data plane wrote', () => {
    const hostile = at('eg', 'False', 2);
    hostile.conditions![0]!.message = 'line\n\u001b[31mred';
    const [r] = dataPlaneRefusals([sp([hostile])]);
    expect(r?.message).not.toContain('\n');
    expect(r?.message).not.toContain('\u001b');
  });
});
