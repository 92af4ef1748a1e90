// What holds a process's heap (a `.heapsnapshot` from `node --heapsnapshot-signal=…`, `v8.writeHeapSnapshot()`
// or the inspector): for each group of objects, chosen by constructor name or by the property names they
// all have, how many heap objects and bytes only they keep alive (reachable from them, not from the GC
// roots around them). A mark-compact traces every live object, so the objects a structure retains
// are its share of the pause; strings and numbers count one object each, whatever their length.
//   node --import tsx hack/bench/heap-retainers.ts FILE.heapsnapshot [--class NAME]… [--props LABEL=a,b,c]…
// e.g. the devcluster API server's watch history: --class WatchCache --props event=key,type,obj
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The parts of V8's heap snapshot format this reads (`snapshot.meta` names the flat arrays' fields). */
export interface HeapSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** A group of objects: those of one constructor, or those that have every one of some properties. */
export type Group = { label: string; className: string } | { label: string; props: string[] };

export interface Retained {
  label: string;
  /** Objects in the group. */
  count: number;
  /** Heap objects reachable only through the group, the group's own included. */
  nodes: number;
  bytes: number;
}

export interface HeapSummary {
  nodes: number;
  bytes: number;
  groups: Retained[];
}

/** The snapshot's graph as flat arrays: node i's fields at i*nodeFields, its edges from firstEdge[i]. */
class Graph {
  readonly n: number;
  private readonly nf: number;
  private readonly ef: number;
  private readonly firstEdge: Uint32Array;
  private readonly typeAt: number;
  private readonly nameAt: number;
  private readonly sizeAt: number;
  private readonly edgeTypeAt: number;
  private readonly edgeNameAt: number;
  private readonly edgeToAt: number;
  private readonly weak: number;
  private readonly property: number;
  readonly objectType: number;

  constructor(private readonly s: HeapSnapshot) {
    const m = s.snapshot.meta;
    this.nf = m.node_fields.length;
    this.ef = m.edge_fields.length;
    this.n = s.nodes.length / this.nf;
    this.typeAt = m.node_fields.indexOf('type');
    this.nameAt = m.node_fields.indexOf('name');
    this.sizeAt = m.node_fields.indexOf('self_size');
    const countAt = m.node_fields.indexOf('edge_count');
    this.edgeTypeAt = m.edge_fields.indexOf('type');
    this.edgeNameAt = m.edge_fields.indexOf('name_or_index');
    this.edgeToAt = m.edge_fields.indexOf('to_node');
    this.weak = m.edge_types[0].indexOf('weak');
    this.property = m.edge_types[0].indexOf('property');
    this.objectType = m.node_types[0].indexOf('object');
    this.firstEdge = new Uint32Array(this.n + 1);
    for (let i = 0; i < this.n; i++)
      this.firstEdge[i + 1] = this.firstEdge[i]! + s.nodes[i * this.nf + countAt]! * this.ef;
  }

  type(i: number): number {
    return this.s.nodes[i * this.nf + this.typeAt]!;
  }
  name(i: number): string {
    return this.s.strings[this.s.nodes[i * this.nf + this.nameAt]!]!;
  }
  size(i: number): number {
    return this.s.nodes[i * this.nf + this.sizeAt]!;
  }

  /** The names of node i's named properties. */
  propertyNames(i: number): string[] {
    const out: string[] = [];
    for (let e = this.firstEdge[i]!; e < this.firstEdge[i + 1]!; e += this.ef)
      if (this.s.edges[e + this.edgeTypeAt] === this.property)
        out.push(this.s.strings[this.s.edges[e + this.edgeNameAt]!]!);
    return out;
  }

  /** Marks every node reachable from `roots` over strong edges without entering a `blocked` one. */
  reach(roots: number[], blocked?: Uint8Array): Uint8Array {
    const seen = new Uint8Array(this.n);
    const stack: number[] = [];
    for (const r of roots) {
      seen[r] = 1;
      stack.push(r);
    }
    while (stack.length) {
      const i = stack.pop()!;
      for (let e = this.firstEdge[i]!; e < this.firstEdge[i + 1]!; e += this.ef) {
        if (this.s.edges[e + this.edgeTypeAt] === this.weak) continue;
        const to = this.s.edges[e + this.edgeToAt]! / this.nf;
        if (seen[to] || blocked?.[to]) continue;
        seen[to] = 1;
        stack.push(to);
      }
    }
    return seen;
  }
}

/** The snapshot's size and, for each group, what only it keeps alive. Node 0 is V8's synthetic root. */
export function heapRetainers(s: HeapSnapshot, groups: Group[]): HeapSummary {
  const g = new Graph(s);
  let bytes = 0;
  for (let i = 0; i < g.n; i++) bytes += g.size(i);
  const out: Retained[] = [];
  for (const group of groups) {
    const members: number[] = [];
    for (let i = 0; i < g.n; i++) {
      if (g.type(i) !== g.objectType) continue;
      if ('className' in group) {
        if (g.name(i) === group.className) members.push(i);
      } else {
        const names = new Set(g.propertyNames(i));
        if (group.props.every((p) => names.has(p))) members.push(i);
      }
    }
    const blocked = new Uint8Array(g.n);
    for (const i of members) blocked[i] = 1;
    const fromRoots = g.reach([0], blocked);
    const fromGroup = g.reach(members);
    let nodes = 0;
    let size = 0;
    for (let i = 0; i < g.n; i++) {
      if (fromGroup[i] && !fromRoots[i]) {
        nodes++;
        size += g.size(i);
      }
    }
    out.push({ label: group.label, count: members.length, nodes, bytes: size });
  }
  return { nodes: g.n, bytes, groups: out };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { class: { type: 'string', multiple: true }, props: { type: 'string', multiple: true } },
  });
  const file = positionals[0];
  if (!file) {
    console.error('usage: heap-retainers.ts FILE.heapsnapshot [--class NAME]… [--props LABEL=a,b,c]…');
    process.exit(2);
  }
  const groups: Group[] = [
    ...(values.class ?? []).map((c) => ({ label: c, className: c })),
    ...(values.props ?? []).map((p) => {
      const [label = p, list = ''] = p.split('=');
      return { label, props: list.split(',').filter(Boolean) };
    }),
  ];
  const r = heapRetainers(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot, groups);
  const mib = (b: number) => (b / 2 ** 20).toFixed(2);
  console.log(`${file}: ${r.nodes} heap objects, ${mib(r.bytes)} MiB`);
  console.log('group                      count   retained objects (share)   retained MiB');
  for (const x of r.groups)
    console.log(
      `${x.label.padEnd(24)} ${String(x.count).padStart(7)}   ${String(x.nodes).padStart(16)} (${((100 * x.nodes) / r.nodes).toFixed(1).padStart(4)}%)   ${mib(x.bytes).padStart(12)}`,
    );
}
