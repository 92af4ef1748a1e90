// The CNI verbs. ADD asks the agent for an address, builds the veth pair and hands the endpoint to
// the agent (rolling everything back when any step fails); DEL is idempotent and tolerant (a second
// call with no netns and no prevResult, an agent that is gone: still success); CHECK compares the
// kernel and the agent with prevResult; STATUS asks the agent's health; GC drops endpoints of
// attachments the runtime no longer knows.
import { AgentClient } from '../controllers/agent/api/client.js';
import { cniAttachmentId, type EndpointChangeRequest } from '../controllers/agent/api/types.js';
import { AgentApiError, AgentError, isAgentUnavailable } from '../controllers/agent/errors.js';
import type { Invocation } from './config.js';
import { CniError, CniErrorCode } from './errors.js';
import { configurePodSide, createHostSide, deleteHostSide, hostVethName, inspect, type VethSpec } from './link.js';
import { addResult, type CniResult } from './result.js';

/** No answer from the agent (not running, connection lost, timed out): the runtime may retry later. */
const unreachable = isAgentUnavailable;

function notFound(e: unknown): boolean {
  return e instanceof AgentApiError && e.status === 404;
}

/** Agent failures as CNI errors: unreachable → try again later (11), refusals → 100. */
function agentError(what: string, e: unknown): CniError {
  if (CniError.is(e)) return e;
  const msg = (e as Error).message;
  if (unreachable(e))
    return new CniError(CniErrorCode.TryAgain, `${what}: ${msg}`, {
      details: 'the cilium-agent did not answer',
      cause: e,
    });
  const code = e instanceof AgentError ? e.code : 'unknown';
  return new CniError(CniErrorCode.Agent, `${what}: ${msg}`, { details: `agent error ${code}`, cause: e });
}

function client(inv: Invocation): AgentClient {
  return new AgentClient({ socketPath: inv.conf.socketPath, timeoutMs: inv.conf.agentTimeoutMs });
}

/** The IPAM owner the agent records: the pod when the runtime says which, else the container. */
function owner(inv: Invocation): string {
  return inv.podName && inv.podNamespace ? `${inv.podNamespace}/${inv.podName}` : inv.containerId;
}

/** Milliseconds of each ADD step (ipam, host, pod, endpoint) of the last ADD: the plugin's log line shows them. */
export const addSteps: Record<string, number> = {};

export async function cmdAdd(inv: Invocation): Promise<CniResult> {
  const agent = client(inv);
  let t = performance.now();
  const step = (name: string) => {
    addSteps[name] = Math.round(performance.now() - t);
    t = performance.now();
  };
  let ip: string;
  let gateway: string;
  let hasIpv6: boolean;
  try {
    const r = await agent.ipamAllocate(owner(inv), 'ipv4', inv.containerId);
    ip = (r.ipv4?.ip ?? r.address.ipv4 ?? '').replace(/\/\d+$/, '');
    gateway = r.ipv4?.gateway ?? '';
    hasIpv6 = Boolean(r.ipv6?.ip ?? r.address.ipv6);
    step('ipam');
  } catch (e) {
    throw agentError(`allocating an IPv4 address for ${owner(inv)}`, e);
  }
  const spec: VethSpec = {
    hostName: hostVethName(inv.containerId),
    netns: inv.netns,
    ifName: inv.ifName,
    ip,
    gateway,
    mtu: inv.conf.mtu,
    disableIpv6: !hasIpv6,
  };
  const id = cniAttachmentId(inv.containerId, inv.ifName);
  let created = false;
  let endpointSent = false;
  try {
    if (!ip || !gateway)
      throw new CniError(
        CniErrorCode.Agent,
        `the agent's IPAM answer has no IPv4 address or gateway (ip=${ip || '∅'}, gateway=${gateway || '∅'})`,
      );
    created = true;
    const host = await createHostSide(spec);
    step('host');
    const pod = await configurePodSide(spec);
    step('pod');
    const req: EndpointChangeRequest = {
      'container-id': inv.containerId,
      'container-interface-name': inv.ifName,
      'interface-name': host.ifname,
      'interface-index': host.ifindex,
      mac: pod.address,
      'host-mac': host.address,
      addressing: { ipv4: ip },
      'k8s-pod-name': inv.podName,
      'k8s-namespace': inv.podNamespace,
      'netns-path': inv.netns,
      'sync-build': true,
    };
    endpointSent = true;
    try {
      await agent.endpointCreate(id, req);
      step('endpoint');
    } catch (e) {
      throw agentError(`creating endpoint ${id}`, e);
    }
    return addResult(inv.conf.cniVersion, host, pod, inv.netns, ip, gateway);
  } catch (e) {
    // Roll back in reverse order; each step is best effort so the original error is what the runtime sees.
    if (endpointSent) await agent.endpointDelete(id).catch(() => undefined);
    if (created) await deleteHostSide(spec.hostName).catch(() => undefined);
    if (ip) await agent.ipamRelease(ip, owner(inv)).catch(() => undefined);
    throw e;
  }
}

/**
 * DEL: the agent forgets the endpoint (and, as upstream, releases its address), then the veth goes.
 * Nothing present, no netns, no prevResult, the agent gone: success (the spec wants DEL to converge).
 */
export async function cmdDel(
  inv: Invocation,
): Promise<{ endpoint: 'deleted' | 'absent' | 'agent-unreachable'; link: boolean }> {
  const id = cniAttachmentId(inv.containerId, inv.ifName);
  let endpoint: 'deleted' | 'absent' | 'agent-unreachable' = 'deleted';
  let failure: CniError | undefined;
  try {
    await client(inv).endpointDelete(id);
  } catch (e) {
    if (notFound(e)) endpoint = 'absent';
    else if (unreachable(e)) endpoint = 'agent-unreachable';
    else failure = agentError(`deleting endpoint ${id}`, e);
  }
  // Addresses an earlier ADD got but never turned into an endpoint (it gave up waiting, the
  // agent restarted in between) are freed too, or they would leak until the pod CIDR runs dry.
  if (endpoint !== 'agent-unreachable' && !failure) {
    try {
      await client(inv).ipamReleaseUnused(owner(inv), inv.containerId);
    } catch (e) {
      if (!unreachable(e)) failure = agentError(`releasing the addresses of ${owner(inv)}`, e);
    }
  }
  const link = await deleteHostSide(hostVethName(inv.containerId));
  if (failure) throw failure;
  return { endpoint, link };
}

export async function cmdCheck(inv: Invocation): Promise<void> {
  const prev = inv.conf.prevResult;
  if (!prev) throw new CniError(CniErrorCode.InvalidConfig, 'CHECK needs prevResult in the network configuration');
  const hostName = hostVethName(inv.containerId);
  const seen = await inspect(hostName, inv.netns, inv.ifName);
  const mismatch = (msg: string): CniError =>
    new CniError(CniErrorCode.CheckMismatch, `CHECK ${inv.containerId}/${inv.ifName}: ${msg}`);
  if (!seen.host) throw mismatch(`host veth ${hostName} is missing`);
  if (!seen.pod) throw mismatch(`${inv.ifName} is missing in ${inv.netns}`);
  for (const i of prev.interfaces ?? []) {
    const actual = i.sandbox ? seen.pod : seen.host;
    if (i.name === actual.ifname && i.mac && i.mac !== actual.address)
      throw mismatch(`${i.name} has MAC ${actual.address}, prevResult says ${i.mac}`);
  }
  for (const a of prev.ips ?? []) {
    if (!seen.podAddrs.includes(a.address))
      throw mismatch(`${inv.ifName} lacks ${a.address} (has ${seen.podAddrs.join(', ') || 'none'})`);
  }
  for (const r of prev.routes ?? []) {
    const dst = r.dst === '0.0.0.0/0' ? 'default' : r.dst.replace(/\/32$/, '');
    if (!seen.podRoutes.some((x) => x.dst === dst && (!r.gw || x.gateway === r.gw)))
      throw mismatch(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing`);
  }
  try {
    await client(inv).endpointGet(cniAttachmentId(inv.containerId, inv.ifName));
  } catch (e) {
    if (notFound(e)) throw mismatch('the agent has no such endpoint');
    throw agentError('reading the endpoint', e);
  }
}

export async function cmdStatus(inv: Invocation): Promise<void> {
  try {
    const h = await client(inv).healthz();
    if (h.status && !/^ok$/i.test(h.status)) throw new Error(`the agent reports ${h.status}`);
  } catch (e) {
    throw new CniError(
      CniErrorCode.NotAvailable,
      `cilium-agent at ${inv.conf.socketPath} is not available: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** GC: endpoints whose container the runtime no longer lists go (with their veth). */
export async function cmdGc(inv: Invocation): Promise<string[]> {
  const valid = new Set((inv.conf.validAttachments ?? []).map((a) => a.containerID));
  const agent = client(inv);
  let endpoints;
  try {
    endpoints = await agent.endpointList();
  } catch (e) {
    throw agentError('listing endpoints', e);
  }
  const removed: string[] = [];
  for (const ep of endpoints) {
    const cid = ep['container-id'];
    if (!cid || valid.has(cid)) continue; // not a CNI attachment (host, health) or still in use
    try {
      await agent.endpointDelete(String(ep.id));
    } catch (e) {
      if (!notFound(e)) throw agentError(`deleting stale endpoint ${ep.id}`, e);
    }
    if (ep['interface-name'].startsWith('lxc')) await deleteHostSide(ep['interface-name']);
    removed.push(cid);
  }
  return removed;
}
