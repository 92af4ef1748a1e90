// Where the cards of the service map go. Each namespace is laid out on its own by dagre (layered,
// left to right) and the namespaces are stacked, so a namespace is a block of its own and the
// graphs dagre orders stay small (one graph of 300 workloads costs several times ten of 30). A
// card keeps the place it was first given — traffic coming and going never moves what the user is
// looking at: a card joining a namespace already on the map goes next to a neighbour it talks to
// (or below the namespace's cards), a new namespace gets a block below the others; new cards are
// moved down until they overlap nothing already placed.
import dagre from '@dagrejs/dagre';
import { CARD_HEIGHT, CARD_WIDTH, type Point } from './map-geometry.js';

export { CARD_HEIGHT, CARD_WIDTH, type Point };
const GAP = 24;
const RANK_SEP = 90;
/** Space between two namespace blocks (room for the block's title). */
const BLOCK_GAP = 70;

export interface LayoutInput {
  readonly id: string;
  readonly namespace?: string;
}

const overlaps = (a: Point, b: Point): boolean =>
  Math.abs(a.x - b.x) < CARD_WIDTH + GAP / 2 && Math.abs(a.y - b.y) < CARD_HEIGHT + GAP / 2;

/** dagre's layout of one namespace's cards and the edges between them; positions from (0, 0). */
function layoutBlock(cards: readonly LayoutInput[], edges: readonly (readonly [string, string])[]): Map<string, Point> {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: GAP, ranksep: RANK_SEP, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const c of cards) g.setNode(c.id, { width: CARD_WIDTH, height: CARD_HEIGHT });
  for (const [s, d] of edges) if (s !== d && g.hasNode(s) && g.hasNode(d)) g.setEdge(s, d);
  dagre.layout(g);
  return new Map(cards.map((c) => [c.id, g.node(c.id) as Point]));
}

export class StableLayout {
  /** Card centres. */
  readonly positions = new Map<string, Point>();
  private readonly namespaceOf = new Map<string, string>();

  /** Places the cards not placed yet and forgets cards that are gone; returns the positions. */
  update(cards: readonly LayoutInput[], edges: Iterable<readonly [string, string]>): Map<string, Point> {
    const ids = new Set(cards.map((c) => c.id));
    for (const id of this.positions.keys())
      if (!ids.has(id)) {
        this.positions.delete(id);
        this.namespaceOf.delete(id);
      }
    const fresh = cards.filter((c) => !this.positions.has(c.id));
    if (!fresh.length) return this.positions;
    const edgeList = [...edges];
    const placed = [...this.positions.values()];
    const put = (id: string, ns: string, p: Point): void => {
      while (placed.some((q) => overlaps(p, q))) p.y += CARD_HEIGHT + GAP;
      this.positions.set(id, p);
      this.namespaceOf.set(id, ns);
      placed.push(p);
    };
    const nsOf = (c: LayoutInput): string => c.namespace ?? '';
    const known = new Set(this.namespaceOf.values());

    // cards of namespaces already on the map: next to a placed neighbour, else below their namespace
    for (const c of fresh.filter((x) => known.has(nsOf(x)))) {
      const from = edgeList.find(([s, d]) => d === c.id && this.namespaceOf.get(s) === nsOf(c));
      const to = edgeList.find(([s, d]) => s === c.id && this.namespaceOf.get(d) === nsOf(c));
      const left = from && this.positions.get(from[0]);
      const right = to && this.positions.get(to[1]);
      let p: Point;
      if (left) p = { x: left.x + CARD_WIDTH + RANK_SEP, y: left.y };
      else if (right) p = { x: right.x - CARD_WIDTH - RANK_SEP, y: right.y };
      else {
        const mates = [...this.positions].filter(([id]) => this.namespaceOf.get(id) === nsOf(c)).map(([, q]) => q);
        p = { x: Math.min(...mates.map((q) => q.x)), y: Math.max(...mates.map((q) => q.y)) + CARD_HEIGHT + GAP };
      }
      put(c.id, nsOf(c), p);
    }

    // new namespaces: a dagre block each, stacked below everything (namespaces first, reserved peers last)
    const blocks = new Map<string, LayoutInput[]>();
    for (const c of fresh.filter((x) => !known.has(nsOf(x)))) {
      const b = blocks.get(nsOf(c)) ?? [];
      b.push(c);
      blocks.set(nsOf(c), b);
    }
    const order = [...blocks.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
    let top = placed.length ? Math.max(...placed.map((q) => q.y)) + CARD_HEIGHT / 2 + BLOCK_GAP : 0;
    for (const ns of order) {
      const block = layoutBlock(blocks.get(ns)!, edgeList);
      let bottom = top;
      for (const [id, q] of block) {
        const p = { x: q.x + CARD_WIDTH / 2, y: q.y + top + CARD_HEIGHT / 2 };
        put(id, ns, p);
        bottom = Math.max(bottom, p.y + CARD_HEIGHT / 2);
      }
      top = bottom + BLOCK_GAP;
    }
    return this.positions;
  }

  clear(): void {
    this.positions.clear();
    this.namespaceOf.clear();
  }
}
