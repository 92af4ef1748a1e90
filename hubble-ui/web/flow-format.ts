// How a flow reads in the table and the detail pane. No DOM: shared with the tests.
import type { Endpoint, Flow } from '../../hubble/types.js';
import { l4Of } from './map-model.js';

/** `namespace/pod`, else the reserved identity's name with the IP, else the IP. */
export function endpointText(e: Endpoint | undefined, ip: string | undefined): string {
  if (e?.pod_name) return `${e.namespace ? `${e.namespace}/` : ''}${e.pod_name}`;
  const reserved = e?.labels?.find((l) => l.startsWith('reserved:'))?.slice('reserved:'.length);
  if (reserved) return ip ? `${reserved} (${ip})` : reserved;
  return ip ?? '?';
}

export const sourceText = (f: Flow): string => endpointText(f.source, f.IP?.source);
export const destinationText = (f: Flow): string => endpointText(f.destination, f.IP?.destination);

export function portText(f: Flow): string {
  const l4 = l4Of(f);
  return l4 ? `${l4.port}/${l4.protocol}` : '';
}

export function timeText(f: Flow): string {
  const t = f.time;
  if (!t) return '';
  const d = new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
  return d.toISOString().slice(11, 23);
}

export const dropReasonText = (f: Flow): string =>
  f.verdict === 'DROPPED' ? (f.drop_reason_desc ?? String(f.drop_reason ?? '')) : '';

let fallbackKey = 0;
/** A key for React lists: the flow's uuid, else a counter. */
export function flowKey(f: Flow & { __key?: string }): string {
  if (f.uuid) return f.uuid;
  f.__key ??= `k${++fallbackKey}`;
  return f.__key;
}
