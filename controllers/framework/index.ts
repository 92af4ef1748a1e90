// kopf-ts: the reconciler framework of cilium-ts. The front door: everything a controller needs.
export {
  KubeClient,
  resourcePath,
  type ResourceRef,
  type ListOptions,
  type WatchOptions,
  type PatchType,
  type WriteOptions,
  type ClientOptions,
} from './client.js';
export { realClock, FakeClock, type Clock } from './clock.js';
export { setCondition, getCondition, statusUnchanged, type Condition } from './conditions.js';
export {
  Controller,
  Action,
  type ControllerOptions,
  type ReconcileContext,
  type SecondaryWatch,
} from './controller.js';
export * from './errors.js';
export { EventRecorder, EVENTS } from './events.js';
export {
  on,
  handlerController,
  diff,
  essenceOf,
  LAST_HANDLED,
  type Handler,
  type HandlerArgs,
  type DiffEntry,
} from './handlers.js';
export { LeaderElector, LEASES, LEADER_DEFAULTS, type LeaderElectionOptions } from './leader.js';
export { Manager, type ManagerOptions } from './manager.js';
export { FrameworkMetrics } from './metrics.js';
export { WorkQueue, QUEUE_DEFAULTS, type QueueOptions, type Lane } from './queue.js';
export { Store, indexers, stripManagedFields, type StoreChange, type StoreOptions, type IndexFn } from './store.js';
export {
  objectKey,
  splitKey,
  type KubeObject,
  type ObjectMeta,
  type ObjectList,
  type OwnerReference,
} from './types.js';
export { watcher, WATCHER_DEFAULTS, type WatcherEvent, type WatcherOptions } from './watcher.js';
export * as testing from './testing.js';
export { readConfigDir, parseFlags, loadConfig } from './config.js';
export { parseGoDuration, ConfigReader, type ListenAddress } from './config-reader.js';
export { ensureCrds, CRDS_RESOURCE } from './crd-install.js';
export {
  apiServerEndpoint,
  refuseUnsupportedCluster,
  useApiServerEndpoint,
  type ApiServerEndpoint,
} from './cluster-config.js';
