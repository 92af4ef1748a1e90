// Prometheus metrics under controller-runtime's and client-go's names, so existing dashboards
// work: controller_runtime_reconcile_* and workqueue_*. One registry per manager.
import { Counter, Gauge, Registry } from 'prom-client';
import { CellHistogram, type HistogramCell } from './histogram.js';
import type { QueueHooks } from './queue.js';

/** One controller's per-reconcile counts, kept as numbers between scrapes. */
export interface ControllerCell {
  active: number;
  results: Map<string, number>;
  /** controller_runtime_reconcile_time_seconds{controller} */
  reconcileTime: HistogramCell;
}

export class FrameworkMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: CellHistogram<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly maxConcurrent: Gauge<'controller'>;
  readonly depth: Gauge<'name'>;
  readonly adds: Counter<'name'>;
  readonly retries: Counter<'name'>;
  readonly queueDuration: CellHistogram<'name'>;
  readonly workDuration: CellHistogram<'name'>;
  readonly leader: Gauge<'name'>;
  /**
   * Per queue: depth and adds as plain numbers, handed to prom-client when scraped. They change on
   * every add and take, and prom-client hashes the label object on every call (a tenth of a
   * reconcile's cost at 10,000 keys).
   */
  private readonly queues = new Map<string, { depth: number; adds: number }>();
  /** Per controller, the same way: workers busy now and reconciles finished per result since the last scrape. */
  private readonly controllers = new Map<string, ControllerCell>();

  constructor(registry = new Registry()) {
    this.registry = registry;
    const r = [registry];
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    const controllers = this.controllers;
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers: r,
      collect() {
        for (const [controller, c] of controllers)
          for (const [result, n] of c.results) {
            this.inc({ controller, result }, n);
            c.results.set(result, 0);
          }
      },
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers: r,
    });
    this.reconcileTime = new CellHistogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets,
      registers: r,
    });
    this.activeWorkers = new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers: r,
      collect() {
        for (const [controller, c] of controllers) this.set({ controller }, c.active);
      },
    });
    this.maxConcurrent = new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
      registers: r,
    });
    const queues = this.queues;
    this.depth = new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers: r,
      collect() {
        for (const [name, q] of queues) this.set({ name }, q.depth);
      },
    });
    this.adds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers: r,
      collect() {
        for (const [name, q] of queues) {
          // zero too: the series exists from the queue's start
          this.inc({ name }, q.adds);
          q.adds = 0;
        }
      },
    });
    this.retries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers: r,
    });
    this.queueDuration = new CellHistogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets,
      registers: r,
    });
    this.workDuration = new CellHistogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets,
      registers: r,
    });
    this.leader = new Gauge({
      name: 'leader_election_master_status',
      help: 'Whether this process is the leader (1) or not (0)',
      labelNames: ['name'],
      registers: r,
    });
  }

  /** The numbers a controller updates on every reconcile (active workers, results), scraped as above. */
  controllerCell(name: string): ControllerCell {
    let c = this.controllers.get(name);
    if (!c)
      this.controllers.set(
        name,
        (c = { active: 0, results: new Map(), reconcileTime: this.reconcileTime.cell({ controller: name }) }),
      );
    return c;
  }

  queueHooks(name: string): QueueHooks {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = { depth: 0, adds: 0 }));
    const cell = q;
    const queued = this.queueDuration.cell({ name });
    const work = this.workDuration.cell({ name });
    return {
      onAdd: () => void cell.adds++,
      onDepth: (d) => void (cell.depth = d),
      onGet: (_k, waited) => queued.observe(waited / 1000),
      onDone: (_k, ms) => work.observe(ms / 1000),
      onRetry: () => this.retries.inc({ name }),
    };
  }
}
