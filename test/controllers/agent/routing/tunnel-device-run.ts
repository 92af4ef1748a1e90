// Runs one call of controllers/agent/routing/tunnel-device.ts in the network namespace it is
// started in (`ip netns exec NS node --import tsx tunnel-device-run.ts CALL ARGS`) and prints the
// answer as JSON, or the error's code and message.
import {
  deviceHolding,
  ensureTunnelDevice,
  nextHop,
  removeTunnelDevices,
} from '../../../../controllers/agent/routing/tunnel-device.js';

const [call, ...args] = process.argv.slice(2);
try {
  const answer =
    call === 'ensure'
      ? await ensureTunnelDevice(args[0] as 'vxlan' | 'geneve', Number(args[1]), Number(args[2]))
      : call === 'holding'
        ? ((await deviceHolding(args[0]!)) ?? null)
        : call === 'nexthop'
          ? await nextHop(args[0]!, args[1]!)
          : await removeTunnelDevices();
  console.log(JSON.stringify(answer));
} catch (e) {
  console.log(JSON.stringify({ code: (e as { code?: string }).code, message: (e as Error).message }));
}
