// The page's data without a browser: flows aggregated into cards and links (bounded, replies left
// out, verdicts mixed), the stable layout (a card never moves once placed, new ones overlap none),
// the filters' URL form, and the query → GetFlows filters of api/events (hubble observe's).
import { describe, expect, it } from '@jest/globals';
import { HubbleUiError, HubbleUiErrorCode } from '../../hubble-ui/errors.js';
import { requestFromQuery } from '../../hubble-ui/server.js';
import { FlowStore } from '../../hubble-ui/web/flow-store.js';
import { CARD_HEIGHT, CARD_WIDTH, StableLayout, type Point } from '../../hubble-ui/web/map-layout.js';
import { ServiceMap, cardOf, linkVerdict } from '../../hubble-ui/web/map-model.js';
import { EMPTY_FILTERS, filtersFromQuery, queryFromFilters } from '../../hubble-ui/web/url-state.js';
import type { Flow } from '../../hubble/types.js';
import { flow } from '../whatif/cluster-fixture.js';

const world: Flow = {
  verdict: 'FORWARDED',
  IP: { source: '10.200.0.10', destination: '1.1.1.1', ipVersion: 'IPv4' },
  l4: { UDP: { source_port: 5000, destination_port: 53 } },
  source: { namespace: 'shop', pod_name: 'frontend-7d9f', labels: ['k8s:app=frontend'], identity: 1001 },
  destination: { identity: 2, labels: ['reserved:world'] },
};

describe('ServiceMap', () => {
  it('groups pods by app label into one card and one link per protocol/port, counting verdicts', () => {
    const m = new ServiceMap();
    m.add([
      ...Array.from({ length: 50 }, () => flow('shop/frontend', 'shop/backend', 8080, { point: 'INGRESS' })),
      flow('shop/frontend', 'shop/backend', 8080, { point: 'EGRESS' }),
      flow('shop/intruder', 'shop/backend', 8080, { dropReason: 133, point: 'INGRESS' }),
      flow('shop/intruder', 'shop/backend', 8080, { point: 'INGRESS' }),
      flow('shop/frontend', 'shop/backend', 8080, { reply: true }),
      // forwarded by the source, dropped by the destination: a red link, not a mixed one
      flow('data/reporting', 'shop/frontend', 8080, { point: 'EGRESS' }),
      flow('data/reporting', 'shop/frontend', 8080, { dropReason: 133, point: 'INGRESS' }),
      world,
    ]);
    expect([...m.cards.keys()].sort()).toEqual([
      'data/reporting',
      'reserved:world',
      'shop/backend',
      'shop/frontend',
      'shop/intruder',
    ]);
    const links = Object.fromEntries(
      [...m.links.values()].map((l) => [l.id, [l.forwarded, l.dropped, l.transit, linkVerdict(l)]]),
    );
    expect(links).toEqual({
      'shop/frontend→shop/backend TCP/8080': [50, 0, 1, 'forwarded'],
      'shop/intruder→shop/backend TCP/8080': [1, 1, 0, 'mixed'],
      'data/reporting→shop/frontend TCP/8080': [0, 1, 1, 'dropped'],
      'shop/frontend→reserved:world UDP/53': [1, 0, 0, 'forwarded'],
    });
    expect(cardOf(world.source, undefined)).toEqual({
      id: 'shop/frontend',
      title: 'frontend',
      namespace: 'shop',
      kind: 'workload',
    });
  });

  it('stays bounded under a flood: the least recently seen links and cards go first', () => {
    const m = new ServiceMap({ maxCards: 20, maxLinks: 10 });
    const flows: Flow[] = Array.from({ length: 5000 }, (_, i) => ({
      ...world,
      source: { namespace: 'load', pod_name: `p${i}`, labels: [`k8s:app=a${i % 40}`] },
      l4: { TCP: { source_port: 1, destination_port: 1000 + (i % 97) } },
    }));
    flows.forEach((f, i) => m.add([f], i));
    expect(m.links.size).toBeLessThanOrEqual(10);
    expect(m.cards.size).toBeLessThanOrEqual(20);
    for (const l of m.links.values()) expect(m.cards.has(l.source) && m.cards.has(l.destination)).toBe(true);
  });
});

describe('StableLayout', () => {
  const overlap = (a: Point, b: Point) => Math.abs(a.x - b.x) < CARD_WIDTH && Math.abs(a.y - b.y) < CARD_HEIGHT;

  it('never moves a placed card, and places new ones where they overlap nothing', () => {
    const layout = new StableLayout();
    const cards = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, namespace: `ns${i % 3}` }));
    const edges = (n: number) => Array.from({ length: n - 1 }, (_, i) => [`c${i}`, `c${i + 1}`] as const);
    const first = new Map(layout.update(cards(6), edges(6)));
    const second = layout.update(cards(15), edges(15));
    for (const [id, p] of first) expect(second.get(id)).toEqual(p);
    const all = [...second.values()];
    for (let i = 0; i < all.length; i++)
      for (let j = i + 1; j < all.length; j++) expect(overlap(all[i]!, all[j]!)).toBe(false);
    // traffic going away (a card dropped) moves nothing either
    const third = layout.update(cards(15).slice(1), edges(15));
    for (const [id, p] of third) expect(p).toEqual(second.get(id));
  });
});

describe('FlowStore', () => {
  it('keeps the newest rows, newest first, and leaves flows out while paused', () => {
    const s = new FlowStore({ maxRows: 3 });
    const f = (port: number) => flow('shop/frontend', 'shop/backend', port);
    s.add([f(1), f(2), f(3), f(4), f(5)], 7);
    expect(s.newest().map((x) => x.l4?.TCP?.destination_port)).toEqual([5, 4, 3]);
    s.paused = true;
    s.add([f(6)]);
    expect(s.newest()[0]!.l4?.TCP?.destination_port).toBe(5);
    expect({ received: s.received, skipped: s.skipped, missed: s.missedWhilePaused }).toEqual({
      received: 6,
      skipped: 7,
      missed: 1,
    });
  });
});

describe('filters', () => {
  it('round-trip through the URL', () => {
    const f = { ...EMPTY_FILTERS, namespace: ['shop', 'data'], verdict: 'DROPPED', port: '8080', pod: 'shop/backend' };
    const q = queryFromFilters(f);
    expect(q).toBe('namespace=shop&namespace=data&verdict=DROPPED&pod=shop%2Fbackend&port=8080');
    expect(filtersFromQuery(`?${q}`)).toEqual(f);
  });

  it('become the GetFlows filters of `hubble observe` (several namespaces: either side in any of them)', () => {
    const r = requestFromQuery(new URLSearchParams('namespace=shop&namespace=data&verdict=dropped&protocol=TCP'), 100);
    expect(r).toMatchObject({ follow: true, number: 100 });
    expect(r.whitelist).toEqual([
      { source_pod: ['shop/', 'data/'], verdict: ['DROPPED'], protocol: ['TCP'] },
      { destination_pod: ['shop/', 'data/'], verdict: ['DROPPED'], protocol: ['TCP'] },
    ]);
    expect(requestFromQuery(new URLSearchParams(''), 10).whitelist).toEqual([]);
    let err: unknown;
    try {
      requestFromQuery(new URLSearchParams('verdict=maybe'), 10);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HubbleUiError);
    expect((err as HubbleUiError).code).toBe(HubbleUiErrorCode.BadFilter);
  });
});
