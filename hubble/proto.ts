// The protos under hubble/proto, loaded once with the options every part of Hubble shares:
// field names as written (keepCase), enums as names, 64-bit integers as JS numbers (counts and
// nanoseconds stay far below 2^53 in practice), oneofs named. Server, relay, CLI and tests all
// build their stubs from here, so both ends of every test speak exactly these protos.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { DROP_REASONS } from '../datapath/drop-reasons.js';

export const protoRoot = fileURLToPath(new URL('./proto', import.meta.url));

export const packageDefinition = protoLoader.loadSync(
  ['flow/flow.proto', 'relay/relay.proto', 'observer/observer.proto', 'peer/peer.proto', 'grpc/health/v1/health.proto'],
  {
    includeDirs: [protoRoot],
    keepCase: true,
    enums: String,
    longs: Number,
    oneofs: true,
    defaults: false,
  },
);

interface ServiceCtor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions): grpc.Client;
  service: grpc.ServiceDefinition;
}

const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  observer: { Observer: ServiceCtor };
  peer: { Peer: ServiceCtor };
  grpc: { health: { v1: { Health: ServiceCtor } } };
};

export const ObserverClient = loaded.observer.Observer;
export const PeerClient = loaded.peer.Peer;
export const observerService = ObserverClient.service;
export const peerService = PeerClient.service;
/** GetFlowsResponse → protobuf bytes, as grpc-js would serialize it (for stream.ts's batched writes). */
export const serializeGetFlowsResponse = observerService.GetFlows!.responseSerialize as (r: unknown) => Buffer;
export const HealthClient = loaded.grpc.health.v1.Health;
export const healthService = HealthClient.service;
/** the service name upstream's clients health-check */
export const OBSERVER_HEALTH_NAME = 'hubble.server.Observer';

interface EnumDef {
  value: { name: string; number: number }[];
}

/** number → name of a proto enum, e.g. enumNames('flow.DropReason')[133] === 'POLICY_DENIED'. */
export function enumNames(fullName: string): Map<number, string> {
  const def = packageDefinition[fullName] as unknown as { type: EnumDef } | undefined;
  if (!def) throw new TypeError(`no enum ${fullName}`);
  return new Map(def.type.value.map((v) => [v.number, v.name]));
}

/** Hubble's DropReason name for |DROP_*|, from the datapath's table (an enum name even when unknown). */
export function dropReasonDesc(reason: number): string {
  return DROP_REASONS.get(Math.abs(reason))?.hubble ?? 'DROP_REASON_UNKNOWN';
}

/** Field name → number of a message, for the test that pins the wire format. */
export function fieldNumbers(fullName: string): Record<string, number> {
  const def = packageDefinition[fullName] as unknown as
    { type: { field: { name: string; number: number }[] } } | undefined;
  if (!def) throw new TypeError(`no message ${fullName}`);
  return Object.fromEntries(def.type.field.map((f) => [f.name, f.number]));
}
