// The page: header (namespaces, filters, relay and node status, counts, pause), the service map,
// the flow table, the detail pane. Flows come over one EventSource whose query is the filters (the
// browser re-opens it by itself when the server goes away; the server re-opens relay's stream).
// The first status (relay, nodes, namespaces) comes inside index.html, so the header is complete on
// first paint; the detail pane is a chunk of its own, fetched after it.
import {
  Alert,
  Badge,
  Button,
  Group,
  MultiSelect,
  NativeSelect,
  Paper,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import type { Flow, NodeState } from '../../hubble/types.js';
import type { FeedEvent, UiStatus } from '../api-types.js';
import { FlowStore } from './flow-store.js';
import { FlowTable } from './flow-table.js';
import { ServiceMapView } from './service-map.js';
import { filtersFromQuery, queryFromFilters, type Filters } from './url-state.js';

/**
 * Rows rendered in the live table; while paused, the store's older rows can be browsed too. Under a
 * flood every render replaces all of them, so this is most of what a render costs.
 */
const TABLE_ROWS = 50;
const PAUSED_ROWS = 500;
/**
 * Re-render at most this often (ms), on an animation frame: a flood becomes a few renders a second,
 * and a hidden page renders nothing until it is shown again.
 */
const RENDER_MS = 250;

const DetailPane = lazy(() => import('./detail-pane.js').then((m) => ({ default: m.DetailPane })));

/** The status the server put into index.html (server.ts), if any. */
function statusFromPage(): UiStatus | undefined {
  const text = document.getElementById('hubble-ui-status')?.textContent;
  try {
    return text ? (JSON.parse(text) as UiStatus) : undefined;
  } catch {
    return undefined;
  }
}

type RelayState = { state: 'connecting' | 'connected' | 'unreachable'; message?: string };

export function App(): ReactElement {
  const [filters, setFilters] = useState<Filters>(() => filtersFromQuery(window.location.search));
  const [draft, setDraft] = useState<Filters>(filters);
  const store = useRef(new FlowStore());
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<UiStatus | undefined>(statusFromPage);
  // what the server knew when it sent the page; the event stream's first message confirms it
  const [relay, setRelay] = useState<RelayState>(() =>
    status ? { state: status.relay, message: status.message } : { state: 'connecting' },
  );
  const [nodes, setNodes] = useState<Record<string, NodeState>>(() =>
    Object.fromEntries((status?.nodes ?? []).map((n) => [n.name, n.state])),
  );
  const [selected, setSelected] = useState<Flow>();
  const [paused, setPaused] = useState(false);
  const query = queryFromFilters(filters);

  useEffect(() => {
    window.history.replaceState(null, '', query ? `?${query}` : window.location.pathname);
  }, [query]);

  // first meaningful paint: the header, status and map are in the document (the benchmark reads it)
  useEffect(() => void performance.mark('hubble-ui:drawn'), []);

  useEffect(() => {
    const s = store.current;
    s.reset();
    setVersion((v) => v + 1);
    // ack=1: this page acknowledges each batch once processed, so the server sends no more than
    // it keeps up with (a flood is skipped and counted there instead of queueing in buffers)
    const es = new EventSource(`api/events?${query ? `${query}&` : ''}ack=1`);
    let stream: string | undefined;
    let acked = 0;
    let toAck = 0;
    let acking = false;
    const ack = (): void => {
      if (acking || !stream || toAck <= acked) return;
      acking = true;
      const seq = toAck;
      fetch('api/ack', { method: 'POST', body: JSON.stringify({ stream, seq }) })
        .catch(() => undefined)
        .finally(() => {
          acking = false;
          acked = seq;
          ack();
        });
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    let frame: number | undefined;
    let last = 0;
    const render = (): void => {
      if (timer !== undefined || frame !== undefined) return;
      timer = setTimeout(
        () => {
          timer = undefined;
          frame = requestAnimationFrame(() => {
            frame = undefined;
            last = performance.now();
            setVersion((v) => v + 1);
          });
        },
        Math.max(0, last + RENDER_MS - performance.now()),
      );
    };
    const on = <T,>(type: string, fn: (e: T) => void): void =>
      es.addEventListener(type, (m) => fn(JSON.parse((m as MessageEvent<string>).data) as T));
    on<Extract<FeedEvent, { type: 'stream' }>>('stream', (e) => {
      stream = e.id;
      acked = toAck = 0;
    });
    on<Extract<FeedEvent, { type: 'flows' }>>('flows', (e) => {
      s.add(e.flows, e.skipped);
      render();
      toAck = e.seq;
      ack();
    });
    on<{ status: UiStatus }>('status', (e) => {
      setStatus(e.status);
      setRelay({ state: e.status.relay, message: e.status.message });
      setNodes(Object.fromEntries(e.status.nodes.map((n) => [n.name, n.state])));
    });
    on<Extract<FeedEvent, { type: 'relay' }>>('relay', (e) => setRelay({ state: e.state, message: e.message }));
    on<Extract<FeedEvent, { type: 'node' }>>('node', (e) =>
      setNodes((n) => ({ ...n, ...Object.fromEntries(e.nodes.map((name) => [name, e.state])) })),
    );
    on<Extract<FeedEvent, { type: 'lost' }>>('lost', (e) => {
      s.lost += e.count;
      render();
    });
    es.onerror = () => setRelay({ state: 'unreachable', message: 'the hubble-ui server does not answer' });
    return () => {
      es.close();
      clearTimeout(timer);
      if (frame !== undefined) cancelAnimationFrame(frame);
    };
  }, [query]);

  const s = store.current;
  s.paused = paused;
  const apply = (f: Filters): void => {
    setDraft(f);
    setFilters(f);
  };
  const lostNodes = Object.entries(nodes).filter(([, st]) => st !== 'NODE_CONNECTED');

  // the header does not change with the flows: it is not drawn again on every batch
  const header = useMemo(
    () => (
      <Paper p="xs" shadow="xs" radius={0} style={{ zIndex: 2 }}>
        <Group gap="sm" align="end" wrap="wrap">
          <Title order={4} mr="sm">
            Hubble UI
          </Title>
          <MultiSelect
            data-testid="filter-namespace"
            label="Namespaces"
            placeholder={filters.namespace.length ? '' : 'all namespaces'}
            data={[...new Set([...(status?.namespaces ?? []), ...filters.namespace])]}
            value={filters.namespace}
            onChange={(namespace) => apply({ ...draft, namespace })}
            searchable
            clearable
            size="xs"
            w={260}
          />
          <NativeSelect
            data-testid="filter-verdict"
            label="Verdict"
            data={['', 'FORWARDED', 'DROPPED', 'AUDIT', 'ERROR']}
            value={filters.verdict}
            onChange={(e) => apply({ ...draft, verdict: e.currentTarget.value })}
            size="xs"
            w={120}
          />
          <NativeSelect
            data-testid="filter-protocol"
            label="Protocol"
            data={['', 'TCP', 'UDP', 'ICMPv4', 'ICMPv6', 'SCTP']}
            value={filters.protocol}
            onChange={(e) => apply({ ...draft, protocol: e.currentTarget.value })}
            size="xs"
            w={100}
          />
          <form
            onSubmit={(e) => {
              e.preventDefault();
              setFilters(draft);
            }}
            style={{ display: 'contents' }}
          >
            {(
              [
                ['pod', 'Pod', '[ns/]pod'],
                ['label', 'Label', 'app=backend'],
                ['port', 'Port', '8080'],
                ['ip', 'IP', '10.0.0.0/8'],
              ] as const
            ).map(([k, label, placeholder]) => (
              <TextInput
                key={k}
                data-testid={`filter-${k}`}
                label={label}
                placeholder={placeholder}
                value={draft[k]}
                onChange={(e) => setDraft({ ...draft, [k]: e.currentTarget.value })}
                onBlur={() => setFilters(draft)}
                size="xs"
                w={k === 'port' ? 80 : 130}
              />
            ))}
            <Button type="submit" size="xs" variant="default">
              Apply
            </Button>
          </form>
          <Button
            size="xs"
            data-testid="pause-button"
            color={paused ? 'orange' : 'blue'}
            onClick={() => {
              if (paused) s.missedWhilePaused = 0;
              setPaused(!paused);
            }}
          >
            {paused ? 'Resume' : 'Pause'}
          </Button>
          <Group gap={6} ml="auto">
            <Badge
              data-testid="relay-status"
              data-state={relay.state}
              color={relay.state === 'connected' ? 'green' : 'red'}
            >
              relay {relay.state}
            </Badge>
            {Object.entries(nodes).map(([name, st]) => (
              <Badge
                key={name}
                data-testid="node-status"
                data-node={name}
                data-state={st}
                color={st === 'NODE_CONNECTED' ? 'gray' : 'red'}
                variant="light"
              >
                {name}
              </Badge>
            ))}
          </Group>
        </Group>
      </Paper>
    ),
    // (apply and the store's pause counter read only these)
    [filters, draft, status, relay, nodes, paused],
  );
  return (
    <Stack gap={0} h="100vh">
      {header}
      {relay.state === 'unreachable' && (
        <Alert color="red" radius={0} data-testid="relay-alert" py={6}>
          hubble-relay is unreachable{relay.message ? `: ${relay.message}` : ''} — reconnecting by itself
        </Alert>
      )}
      {lostNodes.length > 0 && (
        <Alert color="orange" radius={0} data-testid="node-alert" py={6}>
          node{lostNodes.length > 1 ? 's' : ''} not reporting: {lostNodes.map(([n, st]) => `${n} (${st})`).join(', ')}
        </Alert>
      )}
      <div
        style={{
          flex: '1 1 55%',
          minHeight: 200,
          background: '#fbfcfd',
          borderBottom: '1px solid #dee2e6',
          contain: 'strict',
        }}
      >
        <ServiceMapView map={s.map} version={version} />
      </div>
      <Group px="xs" py={4} gap="lg">
        <Text size="xs" data-testid="flow-count">
          {s.received} flows received · {s.rows} kept
        </Text>
        <Text size="xs" c={s.skipped ? 'orange' : 'dimmed'} data-testid="skipped-count" data-skipped={s.skipped}>
          {s.skipped} skipped (arriving faster than the page shows them)
        </Text>
        {s.lost > 0 && (
          <Text size="xs" c="orange" data-testid="lost-count">
            {s.lost} lost by the nodes
          </Text>
        )}
        {paused && (
          <Text size="xs" c="orange" data-testid="paused-count">
            paused: {s.missedWhilePaused} new flows not shown
          </Text>
        )}
      </Group>
      {/* contained: what changes inside (rows, map) is laid out without the rest of the page */}
      <div style={{ flex: '1 1 45%', overflow: 'auto', contain: 'strict' }} data-testid="flow-table-scroll">
        <FlowTable flows={s.newest(paused ? PAUSED_ROWS : TABLE_ROWS)} selected={selected} onSelect={setSelected} />
      </div>
      <Suspense fallback={null}>
        <DetailPane flow={selected} onClose={() => setSelected(undefined)} />
      </Suspense>
    </Stack>
  );
}
