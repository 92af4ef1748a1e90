// One invocation of the plugin as the runtime describes it: the CNI_* environment and the network
// configuration on stdin (a conflist's plugin entry with the list's `cniVersion` and `name`, and
// `prevResult` for DEL/CHECK). Validation happens here, once, with the spec's error codes.
import { statfsSync } from 'node:fs';
import { DEFAULT_SOCKET_PATH } from '../controllers/agent/api/types.js';
import { CniError, CniErrorCode } from './errors.js';

/** Every version whose result shape we produce; the newest first in preference. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

/** The plugin's configuration keys with their defaults (one place). */
export const PLUGIN_DEFAULTS = {
  'socket-path': DEFAULT_SOCKET_PATH,
  'log-file': '',
  'enable-debug': false,
  /** MTU of both veth ends. */
  mtu: 1500,
  /** How long ADD waits for the agent (IPAM plus a synchronous endpoint build). */
  'agent-timeout-ms': 30_000,
};

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  socketPath: string;
  logFile: string;
  debug: boolean;
  mtu: number;
  agentTimeoutMs: number;
  prevResult?: PrevResult;
  /** GC (1.1.0): the attachments the runtime still knows. */
  validAttachments?: { containerID: string; ifname: string }[];
}

/** The parts of a previous result that DEL and CHECK use. */
export interface PrevResult {
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

export interface Invocation {
  command: Command;
  containerId: string;
  netns: string;
  ifName: string;
  cniPath: string;
  podName: string;
  podNamespace: string;
  infraContainerId: string;
  conf: NetConf;
}

/** The version to answer in when the configuration is unusable (error results must carry one). */
export function versionOf(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}

export function parseCommand(env: NodeJS.ProcessEnv): Command {
  const c = env.CNI_COMMAND;
  if (!c)
    throw new CniError(CniErrorCode.InvalidEnv, 'CNI_COMMAND is not set', {
      details: 'one of ADD, DEL, CHECK, VERSION, STATUS, GC',
    });
  if (!COMMANDS.includes(c as Command))
    throw new CniError(CniErrorCode.UnknownCommand, `unknown CNI_COMMAND ${JSON.stringify(c)}`, {
      details: `expected one of ${COMMANDS.join(', ')}`,
    });
  return c as Command;
}

/** Limits on what the runtime hands us; anything longer is a mistake or an attack, not a pod. */
export const INPUT_LIMITS = {
  /** The network configuration on stdin (a conflist entry with prevResult is a few KiB). */
  stdinBytes: 1 << 20,
  /** CNI_CONTAINERID: runtimes use 64 hex characters. */
  containerIdChars: 256,
  /** CNI_ARGS as a whole. */
  cniArgsChars: 4096,
  /** CNI_NETNS and CNI_PATH (PATH_MAX). */
  pathChars: 4096,
  /** The kernel's IFNAMSIZ minus the terminating NUL. */
  ifNameBytes: 15,
} as const;

/** The statfs magic of a network namespace file (/proc/<pid>/ns/net or a bind mount of it). */
export const NSFS_MAGIC = 0x6e736673;

/** CNI_ARGS: `K=V;K=V`. Unknown keys are ignored (runtimes add their own, e.g. IgnoreUnknown). */
export function parseCniArgs(raw: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if ((raw ?? '').length > INPUT_LIMITS.cniArgsChars)
    throw new CniError(CniErrorCode.InvalidEnv, `CNI_ARGS is longer than ${INPUT_LIMITS.cniArgsChars} characters`);
  if (CONTROL.test(raw ?? ''))
    throw new CniError(CniErrorCode.InvalidEnv, 'CNI_ARGS contains control characters (a newline, NUL, …)');
  for (const part of (raw ?? '').split(';')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new CniError(CniErrorCode.InvalidEnv, `CNI_ARGS: ${JSON.stringify(part)} is not KEY=VALUE`, {
        details: 'CNI_ARGS is a ;-separated list of KEY=VALUE pairs',
      });
    out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  for (const [key, re] of [
    ['K8S_POD_NAME', DNS_SUBDOMAIN],
    ['K8S_POD_NAMESPACE', DNS_LABEL],
  ] as const) {
    const v = out.get(key);
    if (v && !re.test(v))
      throw new CniError(CniErrorCode.InvalidEnv, `CNI_ARGS: ${key} ${JSON.stringify(v.slice(0, 64))} is not valid`, {
        details:
          key === 'K8S_POD_NAME' ? 'a DNS subdomain, at most 253 characters' : 'a DNS label, at most 63 characters',
      });
  }
  return out;
}

// The spec's grammar for container ids; interface names as the kernel's dev_valid_name() takes
// them, minus `#` (iproute2's comment character: no name of ours needs it).
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const CONTROL = /\p{Cc}/u;
const IFNAME_BAD = /[/:#\s\p{Cc}]/u;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Whether an interface name is one the kernel (and our tooling) takes. */
export function validIfName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= INPUT_LIMITS.ifNameBytes &&
    name !== '.' &&
    name !== '..' &&
    !IFNAME_BAD.test(name)
  );
}

/**
 * CNI_NETNS must be a network namespace: a missing path is an unknown container (3), anything
 * else that is not nsfs (a regular file such as /etc/passwd, a directory) an invalid environment (4).
 */
export function checkNetns(path: string): void {
  if (path.length > INPUT_LIMITS.pathChars || CONTROL.test(path) || !path.startsWith('/'))
    throw new CniError(
      CniErrorCode.InvalidEnv,
      `CNI_NETNS ${JSON.stringify(path.slice(0, 128))} is not a usable path`,
      {
        details: 'an absolute path without control characters',
      },
    );
  let type: number;
  try {
    type = statfsSync(path).type;
  } catch (e) {
    throw new CniError(CniErrorCode.UnknownContainer, `CNI_NETNS ${path} does not exist`, { cause: e });
  }
  if (type !== NSFS_MAGIC)
    throw new CniError(CniErrorCode.InvalidEnv, `CNI_NETNS ${path} is not a network namespace`, {
      details: `its filesystem is 0x${type.toString(16)}, not nsfs (0x${NSFS_MAGIC.toString(16)})`,
    });
}

function requireEnv(env: NodeJS.ProcessEnv, key: string): string {
  const v = env[key];
  if (!v)
    throw new CniError(CniErrorCode.InvalidEnv, `${key} is not set`, {
      details: `required for CNI_COMMAND=${env.CNI_COMMAND}`,
    });
  return v;
}

function parseNetConf(command: Command, stdin: string): NetConf {
  if (Buffer.byteLength(stdin) > INPUT_LIMITS.stdinBytes)
    throw new CniError(
      CniErrorCode.InvalidConfig,
      `the network configuration on stdin is larger than ${INPUT_LIMITS.stdinBytes} bytes`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniErrorCode.Decode, `the network configuration on stdin is not JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new CniError(CniErrorCode.Decode, 'the network configuration on stdin must be a JSON object');
  const o = raw as Record<string, unknown>;
  const str = (k: string, required: boolean): string => {
    const v = o[k];
    if (v === undefined && !required) return '';
    if (typeof v !== 'string' || (required && !v))
      throw new CniError(
        CniErrorCode.InvalidConfig,
        `network configuration: "${k}" must be a non-empty string (got ${JSON.stringify(v)})`,
      );
    return v;
  };
  const cniVersion = str('cniVersion', true);
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CniErrorCode.IncompatibleVersion, `cniVersion ${cniVersion} is not supported by cilium-cni`, {
      details: `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    });
  }
  if ((command === 'STATUS' || command === 'GC') && cniVersion !== '1.1.0') {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `${command} needs cniVersion 1.1.0 (the configuration says ${cniVersion})`,
    );
  }
  if (command === 'CHECK' && cniVersion.startsWith('0.3')) {
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `CHECK needs cniVersion 0.4.0 or later (the configuration says ${cniVersion})`,
    );
  }
  const name = str('name', true);
  const type = str('type', command !== 'STATUS' && command !== 'GC');
  const ipam = o.ipam as { type?: unknown } | undefined;
  if (ipam && typeof ipam === 'object' && ipam.type !== undefined) {
    throw new CniError(
      CniErrorCode.UnsupportedField,
      `network configuration: ipam.type ${JSON.stringify(ipam.type)} is not supported`,
      { details: 'cilium-cni allocates addresses through the cilium-agent; remove "ipam"' },
    );
  }
  const socketPath = str('socket-path', false) || PLUGIN_DEFAULTS['socket-path'];
  const logFile = str('log-file', false);
  const debug = o['enable-debug'] ?? PLUGIN_DEFAULTS['enable-debug'];
  if (typeof debug !== 'boolean')
    throw new CniError(
      CniErrorCode.InvalidConfig,
      `network configuration: "enable-debug" must be a boolean (got ${JSON.stringify(debug)})`,
    );
  const mtu = o.mtu ?? PLUGIN_DEFAULTS.mtu;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new CniError(
      CniErrorCode.InvalidConfig,
      `network configuration: "mtu" must be an integer between 68 and 65535 (got ${JSON.stringify(mtu)})`,
    );
  }
  const timeout = o['agent-timeout-ms'] ?? PLUGIN_DEFAULTS['agent-timeout-ms'];
  if (typeof timeout !== 'number' || timeout <= 0)
    throw new CniError(
      CniErrorCode.InvalidConfig,
      `network configuration: "agent-timeout-ms" must be a positive number`,
    );
  const prev = o.prevResult;
  if (prev !== undefined && (typeof prev !== 'object' || prev === null || Array.isArray(prev))) {
    throw new CniError(CniErrorCode.InvalidConfig, 'network configuration: "prevResult" must be an object');
  }
  const valid = o['cni.dev/valid-attachments'] ?? o.validAttachments;
  if (
    valid !== undefined &&
    (!Array.isArray(valid) ||
      valid.some(
        (a) =>
          !a ||
          typeof (a as { containerID?: unknown }).containerID !== 'string' ||
          typeof (a as { ifname?: unknown }).ifname !== 'string',
      ))
  ) {
    throw new CniError(
      CniErrorCode.InvalidConfig,
      'network configuration: "cni.dev/valid-attachments" must be a list of {containerID, ifname}',
    );
  }
  return {
    cniVersion,
    name,
    type,
    socketPath,
    logFile,
    debug,
    mtu,
    agentTimeoutMs: timeout,
    ...(prev ? { prevResult: prev as PrevResult } : {}),
    ...(valid ? { validAttachments: valid as { containerID: string; ifname: string }[] } : {}),
  };
}

/** Reads and validates everything an invocation needs (not VERSION: it takes dummy values). */
export function parseInvocation(command: Command, env: NodeJS.ProcessEnv, stdin: string): Invocation {
  const conf = parseNetConf(command, stdin);
  const perContainer = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  let containerId = '';
  let ifName = '';
  let netns = env.CNI_NETNS ?? '';
  if (perContainer) {
    containerId = requireEnv(env, 'CNI_CONTAINERID');
    if (containerId.length > INPUT_LIMITS.containerIdChars || !CONTAINER_ID.test(containerId)) {
      throw new CniError(CniErrorCode.InvalidEnv, `CNI_CONTAINERID ${JSON.stringify(containerId)} is invalid`, {
        details: 'it must start with a letter or digit, then letters, digits, "_", "." or "-"',
      });
    }
    ifName = requireEnv(env, 'CNI_IFNAME');
    if (!validIfName(ifName)) {
      throw new CniError(
        CniErrorCode.InvalidEnv,
        `CNI_IFNAME ${JSON.stringify(ifName.slice(0, 64))} is not a valid interface name`,
        { details: 'at most 15 bytes, not "." or "..", no "/", ":", "#", whitespace or control characters' },
      );
    }
    if (command !== 'DEL') {
      netns = requireEnv(env, 'CNI_NETNS');
      checkNetns(netns);
    }
  }
  const cniPath = perContainer || command === 'GC' ? requireEnv(env, 'CNI_PATH') : (env.CNI_PATH ?? '');
  if (cniPath.length > INPUT_LIMITS.pathChars)
    throw new CniError(CniErrorCode.InvalidEnv, `CNI_PATH is longer than ${INPUT_LIMITS.pathChars} characters`);
  const args = parseCniArgs(env.CNI_ARGS);
  return {
    command,
    containerId,
    netns,
    ifName,
    cniPath,
    podName: args.get('K8S_POD_NAME') ?? '',
    podNamespace: args.get('K8S_POD_NAMESPACE') ?? '',
    infraContainerId: args.get('K8S_POD_INFRA_CONTAINER_ID') ?? '',
    conf,
  };
}
