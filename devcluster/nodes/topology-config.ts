// The cilium-config keys behind the devcluster's `--routing-mode` and `--tunnel-protocol`: tunnel
// mode goes with auto-direct-node-routes off (the agent refuses the two together, as upstream).
// The values are passed through as given; the agent refuses one it does not know, naming the key.
export function routingConfig(o: { 'routing-mode'?: string; 'tunnel-protocol'?: string }): Record<string, string> {
  const mode = o['routing-mode'];
  return {
    ...(mode ? { 'routing-mode': mode } : {}),
    ...(mode === 'tunnel' ? { 'auto-direct-node-routes': 'false' } : {}),
    ...(o['tunnel-protocol'] ? { 'tunnel-protocol': o['tunnel-protocol'] } : {}),
  };
}
