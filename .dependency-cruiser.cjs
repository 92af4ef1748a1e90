// The layering of docs/design.md ("Layout"): arrows point down the table, never up.
// Each rule names a folder and the folders of ours it must not import.
const ours = [
  'config',
  'crds',
  'controllers',
  'policy',
  'datapath',
  'hubble',
  'cni',
  'cmd',
  'cdk8s',
  'charts',
  'hack',
  'devcluster',
  'test',
  'whatif',
  'hubble-ui',
  'proxy',
];
const except = (...allowed) => `^(${ours.filter((f) => !allowed.includes(f)).join('|')})/`;

/** @param {string} name @param {string} from @param {string} to @param {string} why */
const forbid = (name, from, to, why, pathNot) => ({
  name,
  severity: 'error',
  comment: why,
  from: { path: from },
  to: pathNot ? { path: to, pathNot } : { path: to },
});

module.exports = {
  forbidden: [
    forbid('crds-import-nothing', '^crds/', except('crds'), 'crds/ is the bottom layer: schemas and types only.'),
    forbid(
      'config-imports-nothing',
      '^config/',
      except('config'),
      'config/ holds the contracts between the install and the binaries (the cilium-config keys): it sits at the bottom, beside crds/, so that cdk8s/, the controllers and cmd/ can all import it and it names none of them.',
    ),
    forbid(
      'policy-is-pure',
      '^policy/',
      except('policy', 'crds'),
      'policy/ is pure: it may use crds/ types, nothing else of ours.',
    ),
    forbid(
      'framework-below-controllers',
      '^controllers/framework/',
      except('controllers', 'crds'),
      'the framework may import crds/ only.',
      '^controllers/framework/',
    ),
    forbid(
      'framework-not-agent',
      '^controllers/framework/',
      '^controllers/(agent|operator)/',
      'the framework knows no controller.',
    ),
    forbid(
      'kvstore-on-etcd-only',
      '^controllers/kvstore/',
      except('controllers'),
      'controllers/kvstore/ is the etcd client, key layout, allocator and heartbeat the agent and the operator share: it stands on the etcd3 package alone.',
    ),
    forbid(
      'kvstore-not-controllers',
      '^controllers/kvstore/',
      '^controllers/(agent|operator|framework)/',
      'controllers/kvstore/ knows neither process nor the Kubernetes framework; agent and operator wire it in.',
    ),
    {
      ...forbid(
        'controllers-layer',
        '^controllers/(agent|operator)/',
        except('controllers', 'policy', 'datapath', 'crds', 'config'),
        'controllers use framework, policy, datapath, crds and the config contracts.',
      ),
      from: { path: '^controllers/(agent|operator)/', pathNot: '^controllers/agent/l7/' },
    },
    forbid(
      'agent-l7-layer',
      '^controllers/agent/l7/',
      except('controllers', 'policy', 'datapath', 'crds', 'config', 'proxy'),
      "the agent's l7 room runs the proxy: controllers' layers plus proxy/.",
    ),
    {
      ...forbid(
        'proxy-only-from-agent-l7',
        '^(controllers|cmd|cni|hubble|hubble-ui|devcluster|cdk8s|whatif)/',
        '^proxy/',
        "only the agent's l7 room (controllers/agent/l7/) runs the proxy; the rest of the agent hands it what it needs.",
      ),
      from: {
        path: '^(controllers|cmd|cni|hubble|hubble-ui|devcluster|cdk8s|whatif)/',
        pathNot: '^controllers/agent/l7/',
      },
    },
    forbid(
      'agent-not-operator',
      '^controllers/agent/',
      '^controllers/operator/',
      'agent and operator are separate processes.',
    ),
    forbid(
      'operator-not-agent',
      '^controllers/operator/',
      '^controllers/agent/',
      'agent and operator are separate processes.',
    ),
    forbid(
      'datapath-self-contained',
      '^datapath/',
      except('datapath'),
      'datapath/ (codecs, loader, backends) stands on the addon only.',
    ),
    forbid(
      'hubble-on-datapath',
      '^hubble/',
      except('hubble', 'datapath', 'crds'),
      'hubble/ reads datapath event types only.',
    ),
    forbid(
      'cni-on-agent-client',
      '^cni/',
      except('cni', 'controllers', 'crds'),
      'cni/ talks to the agent over its REST client.',
    ),
    forbid('cni-not-framework', '^cni/', '^controllers/(framework|operator)/', 'cni/ uses only the agent REST client.'),
    forbid(
      'proxy-on-policy-and-hubble-types',
      '^proxy/',
      except('proxy', 'policy', 'crds', 'hubble'),
      'proxy/ is the per-node L7 proxy: it enforces policy/ rules (crds/ types) and emits events shaped as Hubble flows; the agent wires it to the datapath, so it imports neither.',
    ),
    forbid(
      'proxy-not-hubble-runtime',
      '^proxy/',
      '^hubble/',
      "proxy/ shapes its events with Hubble's types; the observer, relay and server belong to the agent and relay.",
      '^hubble/(types|errors)\\.ts$',
    ),
    forbid(
      'whatif-on-policy-and-hubble-types',
      '^whatif/',
      except('whatif', 'policy', 'crds', 'hubble'),
      "whatif/ is a pure check (flows + cluster state + change in, report out) over the agents' engine: policy/, crds/ and hubble/ types only.",
    ),
    forbid(
      'whatif-not-hubble-runtime',
      '^whatif/',
      '^hubble/',
      'whatif/ reads Hubble flows as data (types.ts) and may use the client; the observer, relay and server belong to the agent and relay.',
      '^hubble/(types|client|proto|errors)\\.ts$',
    ),
    forbid(
      'hubble-ui-on-hubble-client-and-whatif',
      '^hubble-ui/',
      except('hubble-ui', 'hubble', 'whatif', 'policy', 'crds', 'controllers'),
      "hubble-ui/ is a client: relay over the hubble/ client and protos, the API server over the framework client, and whatif/ (with policy/ and crds/) to explain a verdict on the agents' engine.",
    ),
    forbid(
      'hubble-ui-not-hubble-runtime',
      '^hubble-ui/',
      '^hubble/',
      'hubble-ui/ talks to relay like any client; the observer, ring, relay and server belong to the agent and relay.',
      '^hubble/(types|client|proto|errors|cli)\\.ts$',
    ),
    forbid(
      'hubble-ui-only-framework-client',
      '^hubble-ui/',
      '^controllers/',
      'hubble-ui/ reads the API server through the framework client, never a controller.',
      '^controllers/framework/',
    ),
    forbid(
      'only-cmd-uses-hubble-ui',
      except('cmd', 'test', 'hack', 'hubble-ui'),
      '^hubble-ui/',
      'hubble-ui/ is one binary (cmd/hubble-ui.ts); no other component depends on it.',
    ),
    forbid(
      'cdk8s-on-crds',
      '^cdk8s/',
      except('cdk8s', 'crds', 'config'),
      'cdk8s/ builds the install from crds/ and the config contracts only (it never reaches into a binary).',
    ),
    forbid(
      'devcluster-on-framework-and-launch',
      '^devcluster/',
      except('devcluster', 'crds', 'config', 'controllers', 'cdk8s'),
      "devcluster/ is a Kubernetes stand-in: it may use crds/, the config contracts, the framework and the install's launch description, never a binary's insides.",
    ),
    forbid(
      'devcluster-not-controller-insides',
      '^devcluster/',
      '^controllers/',
      'devcluster/ uses the framework (its client, watches, queue) and the public contracts of the agent (REST client) and operator (resource refs) only.',
      '^controllers/(framework/|agent/api/client\\.ts$|operator/resources\\.ts$)',
    ),
    forbid(
      'devcluster-only-launch-from-cdk8s',
      '^devcluster/',
      '^cdk8s/',
      'devcluster/ starts the processes the install describes (process-launch.ts); the charts themselves are applied as YAML.',
      '^cdk8s/process-launch\\.ts$',
    ),
    forbid(
      'apiserver-auth-below-serving',
      '^devcluster/apiserver/auth/',
      '^devcluster/apiserver/(server|handlers|router|watch|main)\\.ts$',
      'devcluster/apiserver/auth/ decides who a request is and whether it may run, from the request and storage; the serving code calls it, never the reverse.',
    ),
    forbid(
      'only-tests-and-hack-use-devcluster',
      except('test', 'hack', 'devcluster'),
      '^devcluster/',
      'the devcluster is a test and try-out cluster: only test/, hack/ (demo, benchmarks) use it; no shipped component may depend on it.',
    ),
    forbid(
      'no-circular',
      '.',
      '.',
      'circular imports hide layering mistakes (cycles made only of `import type` erase at build time and are allowed).',
    ),
  ].map((r) =>
    r.name === 'no-circular'
      ? {
          name: r.name,
          severity: 'error',
          comment: r.comment,
          from: {},
          to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
        }
      : r,
  ),
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: `^(${ours.join('|')})/`,
    exclude: { path: '(^|/)(node_modules|dist|build|\\.devcluster)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
