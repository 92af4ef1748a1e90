// Where the cards of the service map go: dagre (layered, left to right, namespaces as compound
// clusters) lays the graph out when cards are added, but a card keeps the place it was first given
// — traffic coming and going never moves what the user is looking at. New cards take dagre's place
// for them, moved down until they overlap nothing already placed.
import dagre from '@dagrejs/dagre';

export const CARD_WIDTH = 190;
export const CARD_HEIGHT = 58;
const GAP = 24;

export interface Point {
  x: number;
  y: number;
}

export interface LayoutInput {
  readonly id: string;
  readonly namespace?: string;
}

const overlaps = (a: Point, b: Point): boolean =>
  Math.abs(a.x - b.x) < CARD_WIDTH + GAP / 2 && Math.abs(a.y - b.y) < CARD_HEIGHT + GAP / 2;

export class StableLayout {
  /** Card centres. */
  readonly positions = new Map<string, Point>();

  /** Places the cards not placed yet and forgets cards that are gone; returns the positions. */
  update(cards: readonly LayoutInput[], edges: Iterable<readonly [string, string]>): Map<string, Point> {
    const ids = new Set(cards.map((c) => c.id));
    for (const id of this.positions.keys()) if (!ids.has(id)) this.positions.delete(id);
    const fresh = cards.filter((c) => !this.positions.has(c.id));
    if (!fresh.length) return this.positions;

    const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
    g.setGraph({ rankdir: 'LR', nodesep: GAP, ranksep: 90, marginx: 20, marginy: 20 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const c of cards) {
      g.setNode(c.id, { width: CARD_WIDTH, height: CARD_HEIGHT });
      if (c.namespace) {
        const ns = `namespace:${c.namespace}`;
        if (!g.hasNode(ns)) g.setNode(ns, {});
        g.setParent(c.id, ns);
      }
    }
    for (const [s, d] of edges) if (s !== d && ids.has(s) && ids.has(d)) g.setEdge(s, d);
    dagre.layout(g);

    const placed = [...this.positions.values()];
    for (const c of fresh) {
      const n = g.node(c.id) as { x: number; y: number };
      const p = { x: n.x, y: n.y };
      while (placed.some((q) => overlaps(p, q))) p.y += CARD_HEIGHT + GAP;
      this.positions.set(c.id, p);
      placed.push(p);
    }
    return this.positions;
  }

  clear(): void {
    this.positions.clear();
  }
}
