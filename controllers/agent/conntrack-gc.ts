// The conntrack garbage collector (`conntrack-gc-interval`): deletes the entries whose lifetime has
// passed, periodically. The maps are LRU, so a full table evicts rather than refuses new flows;
// the GC keeps dead entries from pushing live ones out. A fixed interval runs at that period; 0
// adapts as upstream's does (pkg/maps/ctmap/gc): 5 min at first, shorter when a run deletes more
// than a quarter of the capacity, longer when it deletes less than 5%.
import type { Logger } from 'pino';
import type { ConntrackGcResult, Datapath } from '../../datapath/datapath.js';

/** Upstream's adaptive bounds (ConntrackGCStartingInterval, ConntrackGCMinInterval, ConntrackGCMaxLRUInterval). */
export const CT_GC_ADAPTIVE = { startMs: 5 * 60_000, minMs: 10_000, maxMs: 12 * 3_600_000 } as const;

/** The next adaptive interval after a run that deleted `deleteRatio` of the tables' capacity. */
export function nextGcInterval(prevMs: number, deleteRatio: number): number {
  const round = (ms: number) => Math.round(ms / 1000) * 1000;
  if (deleteRatio > 0.25) return Math.max(CT_GC_ADAPTIVE.minMs, round(prevMs * (1 - Math.min(deleteRatio, 0.9))));
  if (deleteRatio < 0.05) return Math.min(CT_GC_ADAPTIVE.maxMs, round(prevMs * 1.5));
  return prevMs;
}

export class ConntrackGc {
  private timer?: NodeJS.Timeout;
  /** The period until the next run (ms). */
  interval: number;

  constructor(
    private readonly datapath: Pick<Datapath, 'gcConntrack'>,
    /** `conntrack-gc-interval` in ms; 0 = adaptive. */
    private readonly fixedMs: number,
    private readonly log: Logger,
  ) {
    this.interval = fixedMs || CT_GC_ADAPTIVE.startMs;
  }

  /** One run now; the next interval follows from what it deleted when adaptive. */
  run(): ConntrackGcResult | undefined {
    let r: ConntrackGcResult;
    try {
      r = this.datapath.gcConntrack();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'conntrack garbage collection failed');
      return undefined;
    }
    if (!this.fixedMs) this.interval = nextGcInterval(this.interval, r.capacity ? r.deleted / r.capacity : 0);
    this.log.debug({ ...r, nextMs: this.interval }, 'conntrack garbage collection');
    return r;
  }

  start(): void {
    const tick = () => {
      this.run();
      this.timer = setTimeout(tick, this.interval).unref();
    };
    this.timer = setTimeout(tick, this.interval).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
