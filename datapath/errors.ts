// Typed datapath errors with stable codes, never written into the message. The addon throws errors whose
// `code` is the errno name; `fromAddon` turns them into a DatapathError with a DP_ERR_* code and
// a sentence that says what to do, naming the map and its size where that is the cause.

export const DatapathErrorCode = {
  /** The native addon was not built. */
  AddonMissing: 'DP_ERR_ADDON_MISSING',
  /** The BPF object was not built. */
  ObjectMissing: 'DP_ERR_OBJECT_MISSING',
  /** The kernel or libbpf refused the object (verifier log attached). */
  Load: 'DP_ERR_LOAD',
  /** E2BIG on update: max_entries reached. */
  MapFull: 'DP_ERR_MAP_FULL',
  /** A pinned map has another layout than the object expects. */
  MapIncompatible: 'DP_ERR_MAP_INCOMPATIBLE',
  /** EPERM / EACCES: not root or no CAP_BPF/CAP_NET_ADMIN. */
  Permission: 'DP_ERR_PERMISSION',
  /** No such map, pin, interface or entry. */
  NotFound: 'DP_ERR_NOT_FOUND',
  /** The kernel lacks a feature. */
  Unsupported: 'DP_ERR_UNSUPPORTED',
  /** Bad input (layout, prefix, port range). */
  Invalid: 'DP_ERR_INVALID',
  /** Any other errno. */
  Syscall: 'DP_ERR_SYSCALL',
  /** Thrown by the addon (a TypeError): a JS argument of the wrong type or size (addon/util.c). */
  Argument: 'DP_ERR_ARGUMENT',
  /** Thrown by the addon: an N-API call failed (addon/napi_util.h). */
  Napi: 'DP_ERR_NAPI',
} as const;
export type DatapathErrorCode = (typeof DatapathErrorCode)[keyof typeof DatapathErrorCode];

export interface ErrorContext {
  /** What we were doing, e.g. "update cilium_policy_v2 entry for endpoint 12". */
  op: string;
  map?: { name: string; maxEntries: number };
}

export class DatapathError extends Error {
  readonly code: DatapathErrorCode;
  readonly errno: string | undefined;
  constructor(code: DatapathErrorCode, message: string, errno?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatapathError';
    this.code = code;
    this.errno = errno;
  }
}

interface AddonError {
  code?: string;
  message?: string;
  syscall?: string;
}

/** Converts an error thrown by the addon into a DatapathError; anything else is returned as is. */
export function fromAddon(err: unknown, ctx: ErrorContext): unknown {
  // duck-typed: errors created by the addon may come from another realm (vm contexts, jest)
  if (
    err instanceof DatapathError ||
    typeof err !== 'object' ||
    err === null ||
    typeof (err as AddonError).message !== 'string'
  )
    return err;
  const e = err as AddonError & Error;
  const errno = e.code;
  if (errno === undefined || !/^E[A-Z0-9]+$/.test(errno)) return err;
  const what = ctx.map ? `map ${ctx.map.name} (max_entries ${ctx.map.maxEntries})` : undefined;
  const base = `${ctx.op}: ${e.message.split('\n')[0]}`;
  const detail = e.message.includes('\n') ? `\n${e.message.slice(e.message.indexOf('\n') + 1)}` : '';
  const make = (code: DatapathErrorCode, advice: string): DatapathError =>
    new DatapathError(code, `${base}. ${advice}${detail}`, errno, { cause: err });
  // the verifier rejects a program with EACCES/EINVAL and a log: that is a load error, not permissions
  if (
    (e.syscall === 'bpf_object__load' || e.syscall === 'bpf_object__open_file') &&
    /BEGIN PROG LOAD LOG|libbpf:/.test(e.message)
  )
    return make(
      DatapathErrorCode.Load,
      'The kernel or libbpf refused the BPF object; the libbpf/verifier log follows.',
    );
  switch (errno) {
    case 'E2BIG':
    case 'ENOSPC':
      return make(
        DatapathErrorCode.MapFull,
        what
          ? `The ${what} is full: reduce the entries (for policy: fewer identity x port pairs selected by this endpoint) or raise the map size.`
          : 'The map is full: reduce the entries or raise the map size.',
      );
    case 'EPERM':
    case 'EACCES':
      return make(
        DatapathErrorCode.Permission,
        'Run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON), and check that /sys/fs/bpf is a mounted bpffs.',
      );
    case 'ENOENT':
    case 'ENODEV':
      return make(
        DatapathErrorCode.NotFound,
        what ? `The ${what} or the entry does not exist.` : 'The object, pin path or interface does not exist.',
      );
    case 'EOPNOTSUPP':
    case 'ENOTSUP':
    case 'ENOSYS':
      return make(
        DatapathErrorCode.Unsupported,
        'This kernel lacks the feature; run `npm run setup` on a kernel >= 5.15 with BTF, or use the sim backend.',
      );
    case 'EINVAL':
      if (e.syscall === 'bpf_object__load')
        return make(
          DatapathErrorCode.MapIncompatible,
          'The kernel refused the object; if maps are pinned from an older layout, remove the pin directory (the agent recreates it) or read the log below.',
        );
      return make(
        DatapathErrorCode.Invalid,
        what
          ? `The kernel rejected the key or value for ${what}; the codec and lxc.h disagree or the input is malformed.`
          : 'The kernel rejected the arguments.',
      );
    default:
      if (e.syscall === 'bpf_object__load' || e.syscall === 'bpf_object__open_file')
        return make(DatapathErrorCode.Load, 'Loading the BPF object failed; the libbpf/verifier log follows.');
      return make(DatapathErrorCode.Syscall, 'Unexpected kernel error.');
  }
}
