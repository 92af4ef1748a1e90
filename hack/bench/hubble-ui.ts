// `npm run bench:hubble-ui`: the Hubble UI under load, in real Chromium (Debian's, headless).
//   1. 2,000 flows/s for 60 s from a synthetic node's Observer, through a real hubble-relay and the
//      hubble-ui server (each in a process of its own, as deployed), into the page: how far the table lags behind the flows' own timestamps,
//      the page's JS heap over time, flows shown + skipped against flows sent, and the CPU seconds
//      each process spent (the node, relay + hubble-ui server, Chromium) — per flow, what the code
//      costs, however long the shared machine made it wait for a core;
//   2. the service map of 300 workloads laid out (StableLayout/dagre), in Node, against a layout of
//      30 as the baseline; and adding one card to the 300 (placed without moving any);
//   3. first paint and first meaningful paint (header and map drawn) of the page on localhost, and
//      the bytes fetched before it (decoded, and compressed on the wire).
//   node --import tsx hack/bench/hubble-ui.ts [--seconds 60] [--rate 2000] [--page-profile FILE]
// Everything runs on loopback; nothing is sent elsewhere.

/** What the page code below reads of the DOM (this file is compiled without the DOM library). */
type PageDocument = {
  querySelector(s: string): { textContent: string | null; getAttribute(n: string): string | null } | null;
};

import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HubbleRelay } from '../../hubble/relay.js';
import { observerService } from '../../hubble/proto.js';
import type { Flow } from '../../hubble/types.js';
import { timestampFromMs } from '../../hubble/types.js';
import { HubbleUiServer } from '../../hubble-ui/server.js';
import { StableLayout } from '../../hubble-ui/web/map-layout.js';
import { launchChromium } from '../chromium.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    rate: { type: 'string' },
    node: { type: 'boolean' },
    'relay-for': { type: 'string' },
    /** Writes the page's CPU profile of the flood to this file (open it in Chromium's DevTools). */
    'page-profile': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds ?? 60);
const RATE = Number(values.rate ?? 2000);
const say = (s: string) => console.log(`[bench:hubble-ui] ${s}`);

// ---- a synthetic node: GetFlows follows a generator of RATE flows/s over 50 workloads ----
const NAMESPACES = ['shop', 'data', 'web', 'batch', 'infra'];
function synthetic(i: number, now: number): Flow {
  const src = i % 50;
  const dst = (i * 7 + 3) % 50;
  const ep = (w: number) => ({
    namespace: NAMESPACES[w % 5]!,
    pod_name: `app${w}-${(i >> 4) % 3}`,
    labels: [`k8s:app=app${w}`, `k8s:io.kubernetes.pod.namespace=${NAMESPACES[w % 5]}`],
    identity: 1000 + w,
  });
  const dropped = i % 10 === 0;
  return {
    time: timestampFromMs(now),
    uuid: randomUUID(),
    verdict: dropped ? 'DROPPED' : 'FORWARDED',
    ...(dropped ? { drop_reason: 133, drop_reason_desc: 'POLICY_DENIED' } : {}),
    IP: { source: `10.0.${src}.${i % 250}`, destination: `10.1.${dst}.1`, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 30000 + (i % 30000), destination_port: 8000 + (dst % 5), flags: { SYN: true } } },
    source: ep(src),
    destination: ep(dst),
    Type: 'L3_L4',
    node_name: 'bench-node',
    traffic_direction: 'EGRESS',
    event_type: { type: dropped ? 1 : 4, sub_type: 0 },
    is_reply: { value: false },
  };
}

/**
 * CPU seconds (user + system) the processes under `root` have used so far, from /proc: on a machine
 * shared with other work, CPU spent per flow is what the code costs, whatever the wait for a core.
 */
function cpuSeconds(root: number, exclude: number[] = []): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // fields after the parenthesised command: state ppid … utime(14) stime(15)
      const text = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // the process has ended meanwhile
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = stats.get(p)?.ppid ?? 0, hops++) {
      if (exclude.includes(p)) return false;
      if (p === root) return true;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, st] of stats) if (inTree(pid)) ticks += st.ticks;
  return ticks / 100; // USER_HZ
}

let sent = 0;
/** The node streams only during the flood (the first-paint pages load an idle cluster): SIGUSR2 starts it. */
let flooding = false;
/** When the flood began: each tick sends what is due by then, so late ticks on a busy machine do not lower the rate. */
let floodStart: number | undefined;

if (values.node) {
  // the synthetic node runs in a process of its own, so making 2,000 flows/s competes with
  // neither relay nor the UI server for the event loop
  process.on('SIGUSR2', () => {
    flooding = true;
    floodStart = performance.now();
  });
  const node = new grpc.Server();
  node.addService(observerService, {
    GetFlows: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      const tick = setInterval(() => {
        if (!flooding || floodStart === undefined) return;
        const now = Date.now();
        const due = Math.floor(((performance.now() - floodStart) * RATE) / 1000);
        // a stalled process catches up by at most 100 ms worth of flows in one tick
        for (let k = 0; sent < due && k < RATE / 10; k++)
          call.write({ flow: synthetic(sent++, now), node_name: 'bench-node', time: timestampFromMs(now) });
      }, 10);
      call.on('cancelled', () => clearInterval(tick));
      call.on('close', () => clearInterval(tick));
    },
    ServerStatus: (_: unknown, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { num_flows: 0, max_flows: 4095, seen_flows: sent, uptime_ns: 1, version: 'bench' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    node.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  console.log(`port ${port}`);
  // the parent asks for the count on stdin ("sent\n") and ends the node by closing it
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', () => console.log(`sent ${sent}`));
  process.stdin.on('end', () => process.exit(0));
} else if (values['relay-for']) {
  // hubble-relay in a process of its own too, as it is deployed (its own Deployment): on a shared
  // machine each process gets its share of the cores, and relay's share is not the UI server's
  const relay = new HubbleRelay({ staticPeers: [{ name: 'bench-node', address: values['relay-for'] }] });
  await relay.listen({ tcp: '127.0.0.1:0' });
  console.log(`relay ${relay.tcpAddress}`);
  process.stdin.resume();
  process.stdin.on('end', () => void relay.close().finally(() => process.exit(0)));
} else {
  await main();
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--node', '--rate', String(RATE)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    pending += d;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
  });
  const nextLine = async (prefix: string): Promise<string> => {
    for (;;) {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return lines.splice(i, 1)[0]!.slice(prefix.length);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const nodePort = Number(await nextLine('port '));
  const sentNow = async (): Promise<number> => {
    child.stdin!.write('sent\n');
    return Number(await nextLine('sent '));
  };
  const relayChild = spawn(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--relay-for', `127.0.0.1:${nodePort}`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let relayOut = '';
  relayChild.stdout!.setEncoding('utf8');
  const relayAddress = await new Promise<string>((resolve, reject) => {
    relayChild.stdout!.on('data', (d: string) => {
      relayOut += d;
      const m = /^relay (\S+)$/m.exec(relayOut);
      if (m) resolve(m[1]!);
    });
    relayChild.on('exit', (code) => reject(new Error(`relay exited (${code}) before listening`)));
  });
  const ui = new HubbleUiServer(undefined, {
    listen: '127.0.0.1:0',
    relayAddress,
    initialFlows: 0,
    // the page as `npm run build` bundled it (this script runs the server from source)
    staticDir: join(import.meta.dirname, '..', '..', 'build', 'hubble-ui', 'web'),
  });
  const url = await ui.listen();
  say(`synthetic node 127.0.0.1:${nodePort} → relay ${relayAddress} → hubble-ui ${url}`);

  // gc() in the page: the heap is sampled after a collection, so it is what the page holds
  const browser = await launchChromium(['--js-flags=--expose-gc']);
  try {
    // ---- 3. first paint, on a fresh page (three loads; the first warms the browser's own start-up) ----
    const paints: { fcp: number; fmp: number; bytes: number; transferred: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.on('pageerror', (e) => say(`page error: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && say(`console: ${m.text()}`));
      await page.goto(url);
      await page.locator('[data-testid=service-map]').waitFor();
      await page.locator('[data-testid=relay-status]').waitFor();
      const t = await page.evaluate(() => {
        const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN;
        const fmp = performance.getEntriesByName('hubble-ui:drawn')[0]?.startTime ?? NaN;
        // what was fetched before the page was drawn: its size, and what crossed the wire (compressed)
        const early = (
          performance.getEntriesByType('resource') as unknown as {
            startTime: number;
            decodedBodySize: number;
            encodedBodySize: number;
          }[]
        ).filter((r) => r.startTime <= fmp);
        // (no named helper: tsx would wrap it in a __name() the page does not have)
        let bytes = 0;
        let transferred = 0;
        for (const r of early) {
          bytes += r.decodedBodySize;
          transferred += r.encodedBodySize;
        }
        return { fcp, fmp, bytes, transferred };
      });
      if (i > 0) paints.push(t);
      await ctx.close();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

    // ---- 1. the flood ----
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.locator('[data-testid=relay-status][data-state=connected]').waitFor({ timeout: 30_000 });
    const cpu = () => {
      const own = process.cpuUsage();
      // relay, the hubble-ui server and this driver share this process; Chromium's processes are its children
      const server = (own.user + own.system) / 1e6;
      return {
        node: cpuSeconds(child.pid!),
        relay: cpuSeconds(relayChild.pid!),
        server,
        browser: cpuSeconds(process.pid, [child.pid!, relayChild.pid!]) - server,
      };
    };
    const cdp = values['page-profile'] ? await page.context().newCDPSession(page) : undefined;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
    }
    child.kill('SIGUSR2');
    const cpu0 = cpu();
    const startSent = await sentNow();
    const samples: { lag: number; heap: number }[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < SECONDS * 1000) {
      await page.waitForTimeout(1000);
      samples.push(
        await page.evaluate(() => {
          const document = (globalThis as unknown as { document: PageDocument }).document;
          const first = document.querySelector('[data-testid=flow-row] td')?.textContent ?? '';
          const [h, m, s] = first.split(':').map(Number);
          const d = new Date();
          const shown = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h!, m!, 0) + s! * 1000;
          const lag = Date.now() - shown;
          (globalThis as unknown as { gc?: () => void }).gc?.();
          const heap = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0;
          return { lag, heap };
        }),
      );
    }
    const counts = await page.evaluate(() => {
      const document = (globalThis as unknown as { document: PageDocument }).document;
      return {
        received: Number(/^(\d+)/.exec(document.querySelector('[data-testid=flow-count]')?.textContent ?? '')?.[1]),
        skipped: Number(document.querySelector('[data-testid=skipped-count]')?.getAttribute('data-skipped') ?? 0),
      };
    });
    const flood = (await sentNow()) - startSent;
    const cpu1 = cpu();
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(values['page-profile']!, JSON.stringify(profile));
    }
    const lags = samples.map((s) => s.lag).filter(Number.isFinite);
    const perK = (k: 'node' | 'relay' | 'server' | 'browser', n: number) =>
      (((cpu1[k] - cpu0[k]) / n) * 1000).toFixed(3);
    const heaps = samples.map((s) => s.heap / 2 ** 20);
    say(`flood: ${flood} flows sent in ${SECONDS} s (${Math.round(flood / SECONDS)}/s)`);
    say(
      `  page received ${counts.received}, skipped ${counts.skipped}: ${(((counts.received + counts.skipped) / flood) * 100).toFixed(1)}% of the sent flows accounted for`,
    );
    say(
      `  CPU seconds in the flood: synthetic node ${(cpu1.node - cpu0.node).toFixed(1)} (${perK('node', flood)} per 1,000 sent), relay ${(cpu1.relay - cpu0.relay).toFixed(1)} (${perK('relay', flood)} per 1,000 sent), hubble-ui server and this driver ${(cpu1.server - cpu0.server).toFixed(1)} (${perK('server', counts.received + counts.skipped)} per 1,000 shown or skipped), Chromium ${(cpu1.browser - cpu0.browser).toFixed(1)} (${perK('browser', counts.received)} per 1,000 shown)`,
    );
    say(
      `  table lag behind the flows' timestamps: median ${median(lags)} ms, max ${Math.max(...lags)} ms (budget 1000 ms: ${(Math.max(...lags) / 1000).toFixed(2)}×)`,
    );
    // how the lag moves over the flood: a backlog that grows, or one that formed and stays
    say(
      `  lag by sample (every ~${Math.round(SECONDS / Math.max(1, samples.length))} s): ${samples
        .filter((_, i) => i % Math.max(1, Math.floor(samples.length / 10)) === 0)
        .map((x) => (x.lag / 1000).toFixed(1))
        .join(', ')} s`,
    );
    say(
      `  JS heap: ${heaps[0]!.toFixed(1)} MiB after 1 s, ${heaps[Math.floor(heaps.length / 2)]!.toFixed(1)} MiB at ${Math.floor(heaps.length / 2) + 1} s, ${heaps.at(-1)!.toFixed(1)} MiB at ${heaps.length} s, max ${Math.max(...heaps).toFixed(1)} MiB (end/middle ${(heaps.at(-1)! / heaps[Math.floor(heaps.length / 2)]!).toFixed(2)}×)`,
    );
    await page.close();

    // ---- 2. layout ----
    const graph = (n: number) => {
      const cards = Array.from({ length: n }, (_, i) => ({ id: `ns${i % 10}/w${i}`, namespace: `ns${i % 10}` }));
      const edges = Array.from({ length: 2 * n }, (_, i) => [cards[i % n]!.id, cards[(i * 7 + 3) % n]!.id] as const);
      return { cards, edges };
    };
    const time = (f: () => void) => {
      const t = performance.now();
      f();
      return performance.now() - t;
    };
    const runs = (n: number) =>
      Array.from({ length: 5 }, () => {
        const g = graph(n);
        return time(() => new StableLayout().update(g.cards, g.edges));
      });
    const l30 = median(runs(30));
    const l300 = median(runs(300));
    const g301 = graph(301);
    const stable = new StableLayout();
    stable.update(g301.cards.slice(0, 300), g301.edges);
    const add1 = time(() => stable.update(g301.cards, g301.edges));
    say(
      `layout: 30 workloads ${l30.toFixed(0)} ms (baseline); 300 workloads ${l300.toFixed(0)} ms (${(l300 / l30).toFixed(1)}× the baseline; budget 1000 ms)`,
    );
    say(`  one workload added to 300: ${add1.toFixed(0)} ms (the 300 stay where they were)`);
    say(
      `first paint on localhost (median of 3 fresh pages): first contentful paint ${median(paints.map((p) => p.fcp)).toFixed(0)} ms, header and map drawn ${median(paints.map((p) => p.fmp)).toFixed(0)} ms (budget 1000 ms)`,
    );
    say(
      `  fetched before drawn: ${(paints[0]!.bytes / 1024).toFixed(0)} KiB of scripts and styles, ${(paints[0]!.transferred / 1024).toFixed(0)} KiB on the wire`,
    );
  } finally {
    await browser.close();
    await ui.close();
    relayChild.stdin!.end();
    child.stdin!.end();
  }
  process.exit(0);
}
