import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fidelityDoc, fidelityTable } from '../../src/render/fidelity-table.ts';

describe('docs/fidelity.md', () => {
  it('is up to date with the renderers (run `npm run gen:docs`)', () => {
    expect(readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'fidelity.md'), 'utf8')).toBe(fidelityDoc());
  });

  it('has a row per control and a column per data plane', () => {
    const lines = fidelityTable().split('\n');
    expect(lines[0]).toContain('ingress-nginx');
    // 9 controls, plus mTLS, Authentication and Authorization where the apisec guard decides, and a Global rate limit.
    const rows = lines.filter((l) => l.startsWith('| ') && !l.startsWith('| control'));
    expect(rows).toHaveLength(13);
    expect(rows.filter((l) => l.includes('the apisec guard)') || l.startsWith('| Authorization (the apisec guard)'))).toHaveLength(2);
  });
});
