// grpc.health.v1.Health for the agent's server and relay: "" and "hubble.server.Observer" are
// SERVING while the server runs; other names are NOT_FOUND, as the protocol asks. Watch sends the
// current status and then holds the stream open until the client leaves or the server stops.
import * as grpc from '@grpc/grpc-js';
import { OBSERVER_HEALTH_NAME } from './proto.js';

interface HealthRequest {
  service?: string;
}

const KNOWN = new Set(['', OBSERVER_HEALTH_NAME]);

export function healthHandlers(): grpc.UntypedServiceImplementation {
  const check: grpc.handleUnaryCall<HealthRequest, unknown> = (call, cb) => {
    if (!KNOWN.has(call.request.service ?? '')) {
      cb({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
      return;
    }
    cb(null, { status: 'SERVING' });
  };
  const watch: grpc.handleServerStreamingCall<HealthRequest, unknown> = (call) => {
    call.write({ status: KNOWN.has(call.request.service ?? '') ? 'SERVING' : 'SERVICE_UNKNOWN' });
  };
  return { Check: check, Watch: watch };
}
