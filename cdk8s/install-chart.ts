// The install as one cdk8s chart (agent, operator, relay, hubble-ui) plus the CRDs chart, and the manifest
// objects every output (dist/install.yaml, deploy/, charts/) is written from.
import { ApiObject, App, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Agent } from './agent.js';
import { CrdsChart } from './crds-chart.js';
import { Operator } from './operator.js';
import { Relay } from './relay.js';
import { HubbleUi } from './hubble-ui.js';
import { type RenderContext, concreteContext, helmContext } from './render-context.js';
import { type ValuesOverride, resolveValues } from './values.js';

/** Upstream installs into kube-system; `cilium install --namespace` and Helm may choose another. */
export const DEFAULT_NAMESPACE = 'kube-system';

/** The components in install order; kustomize base files and chart templates are named after them. */
export const COMPONENTS = ['agent', 'operator', 'relay', 'ui'] as const;
export type Component = (typeof COMPONENTS)[number] | 'crds';

export class InstallChart extends Chart {
  constructor(scope: Construct, id: string, ctx: RenderContext) {
    super(scope, id, { disableResourceNameHashes: true });
    new Agent(this, 'agent', ctx);
    new Operator(this, 'operator', ctx);
    new Relay(this, 'relay', ctx);
    new HubbleUi(this, 'ui', ctx);
  }
}

/** A manifest object as JSON, with the component that made it. */
export interface Manifest {
  readonly component: Component;
  readonly object: Record<string, unknown> & {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string };
  };
}

function manifestsOf(chart: Chart, components: readonly Component[]): Manifest[] {
  const out: Manifest[] = [];
  for (const component of components) {
    const child = chart.node.tryFindChild(component);
    if (!child) throw new Error(`chart has no component ${component}`);
    for (const c of child.node.findAll()) {
      if (ApiObject.isApiObject(c)) out.push({ component, object: c.toJson() as Manifest['object'] });
    }
  }
  return out;
}

/** The objects of the install for these values: CRDs first, then each component. */
export function installManifests(override: ValuesOverride = {}, namespace = DEFAULT_NAMESPACE): Manifest[] {
  return buildManifests(concreteContext(resolveValues(override), namespace));
}

/** The objects built with sentinel values and gate annotations, for the Helm chart writer. */
export function helmManifests(): Manifest[] {
  return buildManifests(helmContext());
}

function buildManifests(ctx: RenderContext): Manifest[] {
  const app = new App();
  const crds = new CrdsChart(app, 'crds');
  const install = new InstallChart(app, 'install', ctx);
  const crdObjects = (crds.toJson() as Manifest['object'][]).map((object) => ({ component: 'crds' as const, object }));
  return [...crdObjects, ...manifestsOf(install, COMPONENTS)];
}
