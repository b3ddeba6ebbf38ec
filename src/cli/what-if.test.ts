// apisec render --provider: the imported legacy policies (apisec import) on Envoy Gateway and on Traefik,
// with each control's fidelity now and there (goldens), and what a changed data plane keeps unchanged.
import { expectGolden, repoRoot } from '../../test/support/golden.ts';
import { defaultSettings } from '../render/types.ts';
import { parseDocuments } from './documents.ts';
import { formatImported, importIngress } from './import.ts';
import { buildInventory, type Inventory } from './inventory.ts';
import { readSources } from './io.ts';
import { formatYaml } from './render-output.ts';
import { formatComparisons, whatIf } from './what-if.ts';

async function legacy(): Promise<Inventory> {
  const sources = await readSources(['test/fixtures/import/legacy-ingresses.yaml'], { cwd: repoRoot, readStdin: async () => '', stdinName: 'stdin' });
  const ingresses = buildInventory(sources.flatMap(parseDocuments), 'default');
  const imported = formatImported(ingresses.ingresses.filter((i) => Object.keys(i.object.metadata.annotations ?? {}).length).map(importIngress));
  return buildInventory([...sources.flatMap(parseDocuments), ...parseDocuments({ file: 'imported.yaml', text: imported })], 'default');
}

describe('apisec render --provider', () => {
  it.each(['envoy-gateway', 'traefik'] as const)('shows the imported policies on %s, and what changes for each control (golden)', async (provider) => {
    const inv = await legacy();
    const out = whatIf(inv, defaultSettings, provider);
    expectGolden(`cli/render-${provider}.yaml`, formatComparisons(out.comparisons, provider) + formatYaml(out.objects));
    expect(out.comparisons.map((c) => c.policy)).toEqual(['billing/payments', 'news/public-feed', 'shop/storefront']);
    for (const c of out.comparisons) expect(c.from).toEqual(['ingress-nginx']);
  });

  it('on Envoy Gateway: 503 and per-controller counting become 429 per Envoy replica and route; mTLS and the HTTPS redirect are named as not written', async () => {
    const out = whatIf(await legacy(), defaultSettings, 'envoy-gateway');
    const payments = out.comparisons.find((c) => c.policy === 'billing/payments')!;
    const rl = payments.changes.find((c) => c.control === 'RateLimit')!;
    expect(rl.from?.reason).toContain('answers 503');
    expect(rl.to?.reason).toContain('answering 429');
    expect(payments.changes.find((c) => c.control === 'Authentication')?.to?.fidelity).toBe('Unsupported');
    expect(out.objects.map((o) => `${String(o.object.kind)} ${o.policy}`)).toEqual(expect.arrayContaining(['SecurityPolicy billing/payments', 'BackendTrafficPolicy billing/payments', 'SecurityPolicy shop/storefront']));
  });

  it('the data plane of today renders every control as today', async () => {
    const out = whatIf(await legacy(), defaultSettings, 'ingress-nginx');
    for (const c of out.comparisons) expect(c.changes).toEqual([]);
  });
});
