// The service map: cards placed by StableLayout, grouped in a box per namespace, links as arrows
// coloured by verdict with their protocol/port and flow count. SVG, fitted to the view; the
// wheel zooms and dragging pans. The layout engine (dagre) is a chunk of its own, fetched once the
// page is drawn: first paint does not wait for it, and an empty map does not need it.
import { memo, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import { CARD_HEIGHT, CARD_WIDTH, type Point } from './map-geometry.js';
import type { StableLayout } from './map-layout.js';
import { linkFlows, linkVerdict, type Card, type Link, type ServiceMap } from './map-model.js';

const VERDICT_COLOURS = { forwarded: '#2f9e44', dropped: '#e03131', mixed: '#f08c00' } as const;
const KIND_COLOURS: Record<Card['kind'], string> = {
  workload: '#e7f5ff',
  world: '#fff4e6',
  host: '#f3f0ff',
  'remote-node': '#f3f0ff',
  reserved: '#f8f9fa',
};

interface Props {
  map: ServiceMap;
  version: number;
  onSelectLink?: (l: Link) => void;
}

function linkPath(a: Point, b: Point, bend: number): string {
  if (a === b) return '';
  const x1 = a.x + CARD_WIDTH / 2;
  const x2 = b.x - CARD_WIDTH / 2;
  // right edge to left edge; backwards links bow out so they do not hide forward ones
  const dx = Math.max(40, Math.abs(x2 - x1) / 2);
  return `M ${x1} ${a.y + bend} C ${x1 + dx} ${a.y + bend}, ${x2 - dx} ${b.y + bend}, ${x2} ${b.y + bend}`;
}

/** A card; drawn again only when it moves or its pod count changes, not on every batch of flows. */
const CardView = memo(function CardView({ card: c, x, y, pods }: { card: Card; x: number; y: number; pods: number }) {
  return (
    <g
      data-testid="map-card"
      data-card-id={c.id}
      data-kind={c.kind}
      transform={`translate(${x - CARD_WIDTH / 2} ${y - CARD_HEIGHT / 2})`}
    >
      <rect
        width={CARD_WIDTH}
        height={CARD_HEIGHT}
        rx={8}
        fill={KIND_COLOURS[c.kind]}
        stroke="#495057"
        strokeWidth={1}
      />
      <text x={12} y={23} fontSize={15} fontWeight={600} fill="#212529">
        {c.title.length > 22 ? `${c.title.slice(0, 21)}…` : c.title}
      </text>
      <text x={12} y={44} fontSize={11} fill="#868e96">
        {c.kind === 'workload' ? `${c.namespace ?? ''} · ${pods} pod${pods === 1 ? '' : 's'}` : c.kind}
      </text>
    </g>
  );
});

export function ServiceMapView({ map, version, onSelectLink }: Props): ReactElement {
  const layout = useRef<StableLayout | undefined>(undefined);
  const [layoutReady, setLayoutReady] = useState(false);
  const [zoom, setZoom] = useState(1);
  const [pan, setPan] = useState({ x: 0, y: 0 });
  const drag = useRef<{ x: number; y: number } | undefined>(undefined);

  useEffect(() => {
    let live = true;
    void import('./map-layout.js').then((m) => {
      layout.current = new m.StableLayout();
      if (live) setLayoutReady(true);
    });
    return () => void (live = false);
  }, []);

  const cards = [...map.cards.values()];
  const links = [...map.links.values()];
  const positions = useMemo(
    () =>
      new Map(
        layout.current?.update(
          cards.map((c) => ({ id: c.id, namespace: c.namespace })),
          links.map((l) => [l.source, l.destination] as const),
        ) ?? [],
      ),
    // the layout changes only when the set of cards does
    [map.cardsVersion, map, layoutReady],
  );

  const groups = new Map<string, { x1: number; y1: number; x2: number; y2: number }>();
  for (const c of cards) {
    const p = positions.get(c.id);
    if (!p || !c.namespace) continue;
    const g = groups.get(c.namespace) ?? { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
    g.x1 = Math.min(g.x1, p.x - CARD_WIDTH / 2 - 12);
    g.y1 = Math.min(g.y1, p.y - CARD_HEIGHT / 2 - 26);
    g.x2 = Math.max(g.x2, p.x + CARD_WIDTH / 2 + 12);
    g.y2 = Math.max(g.y2, p.y + CARD_HEIGHT / 2 + 12);
    groups.set(c.namespace, g);
  }
  const all = [...positions.values()];
  const box = all.length
    ? {
        x: Math.min(...all.map((p) => p.x)) - CARD_WIDTH,
        y: Math.min(...all.map((p) => p.y)) - CARD_HEIGHT - 20,
        w: Math.max(...all.map((p) => p.x)) - Math.min(...all.map((p) => p.x)) + 2 * CARD_WIDTH,
        h: Math.max(...all.map((p) => p.y)) - Math.min(...all.map((p) => p.y)) + 2 * CARD_HEIGHT + 40,
      }
    : { x: 0, y: 0, w: 800, h: 300 };
  const viewBox = `${box.x + pan.x} ${box.y + pan.y} ${box.w / zoom} ${box.h / zoom}`;

  // links between the same two cards are spread apart
  const seen = new Map<string, number>();
  return (
    <svg
      data-testid="service-map"
      data-version={version}
      viewBox={viewBox}
      preserveAspectRatio="xMidYMid meet"
      style={{ width: '100%', height: '100%', cursor: drag.current ? 'grabbing' : 'grab', userSelect: 'none' }}
      onWheel={(e) => setZoom((z) => Math.min(8, Math.max(0.25, z * (e.deltaY < 0 ? 1.15 : 1 / 1.15))))}
      onMouseDown={(e) => (drag.current = { x: e.clientX, y: e.clientY })}
      onMouseUp={() => (drag.current = undefined)}
      onMouseLeave={() => (drag.current = undefined)}
      onMouseMove={(e) => {
        if (!drag.current) return;
        const k = box.w / zoom / (e.currentTarget.clientWidth || 1);
        setPan((p) => ({ x: p.x - (e.clientX - drag.current!.x) * k, y: p.y - (e.clientY - drag.current!.y) * k }));
        drag.current = { x: e.clientX, y: e.clientY };
      }}
    >
      <defs>
        {Object.entries(VERDICT_COLOURS).map(([v, colour]) => (
          <marker
            key={v}
            id={`arrow-${v}`}
            viewBox="0 0 10 10"
            refX="10"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" fill={colour} />
          </marker>
        ))}
      </defs>
      {[...groups].map(([ns, g]) => (
        <g key={`ns-${ns}`} data-testid="map-namespace" data-namespace={ns}>
          <rect
            x={g.x1}
            y={g.y1}
            width={g.x2 - g.x1}
            height={g.y2 - g.y1}
            rx={10}
            fill="none"
            stroke="#adb5bd"
            strokeDasharray="6 4"
          />
          <text x={g.x1 + 10} y={g.y1 + 17} fontSize={13} fill="#868e96">
            namespace {ns}
          </text>
        </g>
      ))}
      {links.map((l) => {
        const a = positions.get(l.source);
        const b = positions.get(l.destination);
        if (!a || !b) return null;
        const pair = `${l.source}→${l.destination}`;
        const n = seen.get(pair) ?? 0;
        seen.set(pair, n + 1);
        const bend = (n % 2 ? -1 : 1) * Math.ceil(n / 2) * 9;
        const verdict = linkVerdict(l);
        const self = a === b;
        const d = self
          ? `M ${a.x + CARD_WIDTH / 2} ${a.y} c 50 -60, 50 60, 0 ${CARD_HEIGHT / 2 - 2}`
          : linkPath(a, b, bend);
        const mx = self ? a.x + CARD_WIDTH / 2 + 40 : (a.x + b.x) / 2;
        const my = self ? a.y : (a.y + b.y) / 2 + bend - 5;
        return (
          <g
            key={l.id}
            data-testid="map-link"
            data-link-id={l.id}
            data-source={l.source}
            data-destination={l.destination}
            data-port={`${l.port}/${l.protocol}`}
            data-verdict={verdict}
            onClick={() => onSelectLink?.(l)}
            style={{ cursor: 'pointer' }}
          >
            <path
              d={d}
              fill="none"
              stroke={VERDICT_COLOURS[verdict]}
              strokeWidth={2.2}
              markerEnd={`url(#arrow-${verdict})`}
            />
            <text x={mx} y={my} fontSize={11} textAnchor="middle" fill={VERDICT_COLOURS[verdict]}>
              {`${l.protocol}/${l.port} · ${linkFlows(l)}`}
            </text>
          </g>
        );
      })}
      {cards.map((c) => {
        const p = positions.get(c.id);
        return p ? <CardView key={c.id} card={c} x={p.x} y={p.y} pods={c.pods.size} /> : null;
      })}
      {(!cards.length || !layoutReady) && (
        <text x={box.x + box.w / 2} y={box.y + box.h / 2} textAnchor="middle" fill="#868e96" fontSize={16}>
          {cards.length ? 'laying out …' : 'waiting for flows …'}
        </text>
      )}
    </svg>
  );
}
