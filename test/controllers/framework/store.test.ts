import { describe, expect, it } from '@jest/globals';
import { FrameworkErrorCode } from '../../../controllers/framework/errors.js';
import { Store, indexers, type StoreChange } from '../../../controllers/framework/store.js';
import type { KubeObject } from '../../../controllers/framework/types.js';

const obj = (ns: string, name: string, rv: string, labels: Record<string, string> = {}): KubeObject => ({
  metadata: { namespace: ns, name, resourceVersion: rv, labels, managedFields: [{ manager: 'kubectl' }] },
});

describe('Store', () => {
  it('is ready only after the first InitDone and swaps a relist in atomically', async () => {
    const s = new Store<KubeObject>();
    const changes: StoreChange<KubeObject>[] = [];
    s.subscribe((c) => changes.push(c));
    s.apply({ type: 'Init' });
    s.apply({ type: 'InitApply', object: obj('a', 'x', '1') });
    s.apply({ type: 'InitApply', object: obj('a', 'y', '1') });
    expect(s.size).toBe(0); // nothing visible mid-list
    expect(s.ready).toBe(false);
    s.apply({ type: 'InitDone', resourceVersion: '5' });
    await s.waitUntilReady();
    expect(s.keys().sort()).toEqual(['a/x', 'a/y']);

    // A relist after 410: y vanished, x changed, z is new.
    changes.length = 0;
    s.apply({ type: 'Init' });
    s.apply({ type: 'InitApply', object: obj('a', 'x', '7') });
    s.apply({ type: 'InitApply', object: obj('a', 'z', '8') });
    expect(s.keys().sort()).toEqual(['a/x', 'a/y']); // the old state stays until InitDone
    s.apply({ type: 'InitDone', resourceVersion: '9' });
    expect(s.keys().sort()).toEqual(['a/x', 'a/z']);
    expect(changes.map((c) => `${c.type}${'key' in c ? ':' + c.key : ''}`).sort()).toEqual([
      'added:a/z',
      'deleted:a/y',
      'synced',
      'updated:a/x',
    ]);
    expect(s.resourceVersion).toBe('9');
  });

  it('a list page (InitPage) fills the store as its objects one by one would, and the relist swap emits the same diff', () => {
    const byPage = new Store<KubeObject>({ indexers: { app: indexers.label('app') } });
    const byObject = new Store<KubeObject>({ indexers: { app: indexers.label('app') } });
    const seen = (s: Store<KubeObject>) => {
      const out: string[] = [];
      s.subscribe((c) => out.push(c.type === 'synced' ? 'synced' : `${c.type}:${c.key}`));
      return out;
    };
    const a = seen(byPage);
    const b = seen(byObject);
    const first = [obj('a', 'x', '1', { app: 'web' }), obj('a', 'y', '1', { app: 'web' }), obj('b', 'x', '2')];
    const second = [obj('a', 'x', '7', { app: 'db' }), obj('b', 'x', '2'), obj('a', 'z', '8', { app: 'web' })];
    for (const list of [first, second]) {
      byPage.apply({ type: 'Init' });
      byPage.apply({ type: 'InitPage', objects: list.slice(0, 2) });
      byPage.apply({ type: 'InitPage', objects: list.slice(2) });
      byPage.apply({ type: 'InitDone', resourceVersion: '9' });
      byObject.apply({ type: 'Init' });
      for (const object of list) byObject.apply({ type: 'InitApply', object });
      byObject.apply({ type: 'InitDone', resourceVersion: '9' });
    }
    expect(a).toEqual(b);
    expect(a).toEqual([
      'added:a/x',
      'added:a/y',
      'added:b/x',
      'synced',
      'updated:a/x',
      'added:a/z',
      'deleted:a/y',
      'synced',
    ]);
    expect(byPage.list()).toEqual(byObject.list());
    expect(byPage.get('a/x')?.metadata?.managedFields).toBeUndefined();
    expect(byPage.byIndex('app', 'web').map((o) => o.metadata?.name)).toEqual(['z']);
    expect(byPage.byIndex('app', 'db').map((o) => o.metadata?.name)).toEqual(['x']);
  });

  it('a listener that unsubscribes stops hearing; the others go on', () => {
    const s = new Store<KubeObject>();
    const one: string[] = [];
    const two: string[] = [];
    const off = s.subscribe((c) => one.push(c.type));
    s.subscribe((c) => two.push(c.type));
    s.apply({ type: 'Apply', object: obj('a', 'x', '1') });
    off();
    s.apply({ type: 'Apply', object: obj('a', 'x', '2') });
    expect(one).toEqual(['added']);
    expect(two).toEqual(['added', 'updated']);
  });

  it('drops managedFields by default and keeps indexes in step with updates and deletes', () => {
    const s = new Store<KubeObject>({ indexers: { namespace: indexers.namespace, app: indexers.label('app') } });
    s.apply({ type: 'Apply', object: obj('a', 'x', '1', { app: 'web' }) });
    s.apply({ type: 'Apply', object: obj('b', 'y', '2', { app: 'web' }) });
    expect(s.get('a/x')?.metadata?.managedFields).toBeUndefined();
    expect(
      s
        .byIndex('app', 'web')
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(['x', 'y']);
    s.apply({ type: 'Apply', object: obj('a', 'x', '3', { app: 'db' }) });
    expect(s.byIndex('app', 'web').map((o) => o.metadata?.name)).toEqual(['y']);
    expect(s.byIndex('app', 'db').map((o) => o.metadata?.name)).toEqual(['x']);
    s.apply({ type: 'Delete', object: obj('b', 'y', '4') });
    expect(s.byIndex('app', 'web')).toEqual([]);
    expect(s.byIndex('namespace', 'a')).toHaveLength(1);
    expect(() => s.byIndex('nope', 'x')).toThrow(expect.objectContaining({ code: FrameworkErrorCode.NoIndex }));
  });

  it('an index value shared by several keys, then by fewer, answers every holder at each step', () => {
    const s = new Store<KubeObject>({ indexers: { app: indexers.label('app') } });
    const names = () =>
      s
        .byIndex('app', 'web')
        .map((o) => o.metadata?.name)
        .sort();
    for (const [i, n] of ['x', 'y', 'z'].entries())
      s.apply({ type: 'Apply', object: obj('a', n, String(i), { app: 'web' }) });
    expect(names()).toEqual(['x', 'y', 'z']);
    s.apply({ type: 'Apply', object: obj('a', 'x', '5', { app: 'web' }) }); // unchanged value: no duplicate
    expect(names()).toEqual(['x', 'y', 'z']);
    s.apply({ type: 'Delete', object: obj('a', 'y', '6') });
    expect(names()).toEqual(['x', 'z']);
    s.apply({ type: 'Apply', object: obj('a', 'z', '7', { app: 'db' }) });
    expect(names()).toEqual(['x']);
    s.apply({ type: 'Apply', object: obj('a', 'w', '8', { app: 'web' }) });
    expect(names()).toEqual(['w', 'x']);
    s.apply({ type: 'Delete', object: obj('a', 'x', '9') });
    s.apply({ type: 'Delete', object: obj('a', 'w', '10') });
    expect(names()).toEqual([]);
  });

  it('bookmarks move the resourceVersion forward without touching objects', () => {
    const s = new Store<KubeObject>();
    s.apply({ type: 'Apply', object: obj('a', 'x', '3') });
    s.apply({ type: 'Bookmark', resourceVersion: '42' });
    expect(s.resourceVersion).toBe('42');
    expect(s.size).toBe(1);
  });
});
