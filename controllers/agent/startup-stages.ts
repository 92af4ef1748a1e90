// The agent's start-up stages: each one's wall and CPU time, for the bootstrap metric and the
// "cilium-agent ready" log line.
import type { AgentMetrics } from './metrics.js';

/** This process's clocks at one point: ms since it started (performance.timeOrigin) and its CPU ms. */
export interface ProcessReading {
  ms: number;
  cpuMs: number;
}

/** user+system CPU in whole milliseconds (process.cpuUsage() counts microseconds) */
const cpuMsOf = (u: NodeJS.CpuUsage): number => Math.round((u.user + u.system) / 1000);

export function readProcess(): ProcessReading {
  return { ms: Math.round(performance.now()), cpuMs: cpuMsOf(process.cpuUsage()) };
}

/**
 * Start-up marks: each stage's duration in cilium_agent_bootstrap_seconds{scope} and in the
 * "cilium-agent ready" log line (`startupMs`), so a slow restart says where its time went.
 */
export class StartupStages {
  private readonly t0 = performance.now();
  private last = this.t0;
  private readonly ms: Record<string, number> = {};
  /** This process's CPU (user+system) per stage: under load the wall time says little. */
  private readonly cpuMs: Record<string, number> = {};
  private readonly cpu0 = process.cpuUsage();
  private lastCpu = this.cpu0;

  /**
   * `loaded`: read at the entry's first line (the bundle loaded and evaluated), so that what comes
   * before start() — loading, configuration, constructors — is accounted for too.
   */
  constructor(
    private readonly metrics: AgentMetrics,
    private readonly loaded?: ProcessReading,
  ) {}

  mark(scope: string): void {
    const now = performance.now();
    const cpu = process.cpuUsage();
    this.cpuMs[scope] = Math.round((cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1000);
    this.lastCpu = cpu;
    this.ms[scope] = Math.round(now - this.last);
    this.metrics.bootstrap.observe({ scope, outcome: 'success' }, (now - this.last) / 1000);
    this.last = now;
  }

  /** Observes `overall` (start() to ready) and returns every stage's milliseconds. */
  done(): Record<string, number> {
    const overall = performance.now() - this.t0;
    this.metrics.bootstrap.observe({ scope: 'overall', outcome: 'success' }, overall / 1000);
    return { ...this.ms, overall: Math.round(overall) };
  }

  /**
   * Before start(), wall and CPU: `load` (process start → the entry's first line: Node, the bundle's
   * compile and evaluation) and `construct` (→ start(): configuration, the Agent's constructors).
   */
  beforeStart(): { ms: Record<string, number>; cpuMs: Record<string, number> } | undefined {
    const l = this.loaded;
    if (!l) return undefined;
    return {
      ms: { load: l.ms, construct: Math.round(this.t0) - l.ms },
      cpuMs: { load: l.cpuMs, construct: cpuMsOf(this.cpu0) - l.cpuMs },
    };
  }

  /** Each stage's CPU milliseconds, `overall` since start(), and `sinceProcessStart` (modules included). */
  cpu(): Record<string, number> {
    const now = cpuMsOf(process.cpuUsage());
    return { ...this.cpuMs, overall: now - cpuMsOf(this.cpu0), sinceProcessStart: now };
  }
}
