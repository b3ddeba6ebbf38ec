import type { KubeObject } from '../k8s/resources.ts';
import { annotationConflicts, describeAnnotationConflicts, ownedAnnotationKeys } from './managed-fields.ts';

const entry = (manager: string, operation: 'Apply' | 'Update', keys: string[], subresource?: string) => ({
  manager,
  operation,
  ...(subresource ? { subresource } : {}),
  fieldsV1: { 'f:metadata': { 'f:annotations': Object.fromEntries(keys.map((k) => [`f:${k}`, {}])) } },
});
const obj = (annotations: Record<string, string>, managedFields: ReturnType<typeof entry>[]): KubeObject => ({ metadata: { name: 'web', annotations, managedFields } }) as KubeObject;

describe('annotationConflicts', () => {
  it.each<[string, KubeObject, Record<string, string>, ReturnType<typeof annotationConflicts>]>([
    ['another manager, another value', obj({ a: '1' }, [entry('admin', 'Update', ['a'])]), { a: '2' }, [{ key: 'a', managers: ['admin'] }]],
    ['another manager, the same value (shared)', obj({ a: '2' }, [entry('admin', 'Update', ['a'])]), { a: '2' }, []],
    ['the operator itself', obj({ a: '1' }, [entry('op', 'Apply', ['a'])]), { a: '2' }, []],
    ['a key nobody owns', obj({}, []), { a: '2' }, []],
    ['an owner through the status subresource does not count', obj({ a: '1' }, [entry('admin', 'Update', ['a'], 'status')]), { a: '2' }, []],
    ['two owners, named once each and sorted', obj({ a: '1' }, [entry('z', 'Update', ['a']), entry('b', 'Apply', ['a']), entry('z', 'Apply', ['a'])]), { a: '2' }, [{ key: 'a', managers: ['b', 'z'] }]],
  ])('%s', (_what, o, want, expected) => {
    expect(annotationConflicts(o, want, 'op')).toEqual(expected);
  });

  it('ownedAnnotationKeys reads only Apply entries of the manager on the main resource', () => {
    expect(ownedAnnotationKeys(obj({}, [entry('op', 'Apply', ['b', 'a']), entry('op', 'Update', ['c']), entry('op', 'Apply', ['d'], 'status')]), 'op')).toEqual(['a', 'b']);
  });

  it('the message names keys and managers inertly and says how to free the key', () => {
    const text = describeAnnotationConflicts('web', [{ key: 'k/x', managers: ['evil\u001b[31m\nmanager'] }]);
    expect(text.includes('\u001b') || text.includes('\n')).toBe(false);
    expect(text).toContain('kubectl annotate ingress web k/x-');
  });
});
