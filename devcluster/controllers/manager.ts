// The devcluster's kube-controller-manager: the workload controllers (Deployment, ReplicaSet,
// DaemonSet, StatefulSet, Job, CronJob) and the EndpointSlice controller in one framework Manager, talking to the API
// server as any client does. Garbage collection of owned objects is the API server's (gc.ts).
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, Manager } from '../../controllers/framework/index.js';
import { CronJobController } from './cronjob.js';
import { DaemonSetController } from './daemonset.js';
import { DeploymentController } from './deployment.js';
import { EndpointSliceController } from './endpointslice.js';
import { JobController } from './job.js';
import { ReplicaSetController } from './replicaset.js';
import { StatefulSetController } from './statefulset.js';

export interface ControllerManagerOptions {
  /** A kubeconfig file, or the server, CA and token directly (the API server's own process). */
  kubeconfig?: string;
  server?: { url: string; caCert: string; token?: string };
  logLevel?: string;
}

export class ControllerManager {
  private constructor(private readonly manager: Manager) {}

  static async start(o: ControllerManagerOptions): Promise<ControllerManager> {
    let client: KubeClient;
    if (o.kubeconfig) client = KubeClient.fromFile(o.kubeconfig);
    else if (o.server) {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          { name: 'devcluster', server: o.server.url, caData: Buffer.from(o.server.caCert).toString('base64') },
        ],
        users: [{ name: 'controller-manager', ...(o.server.token ? { token: o.server.token } : {}) }],
        contexts: [{ name: 'devcluster', cluster: 'devcluster', user: 'controller-manager' }],
        currentContext: 'devcluster',
      });
      client = new KubeClient({ kubeConfig: kc });
    } else client = new KubeClient();
    const manager = new Manager({
      name: 'kube-controller-manager',
      client,
      logLevel: o.logLevel ?? process.env.LOG_LEVEL ?? 'warn',
    });
    new ReplicaSetController().register(manager);
    new DeploymentController().register(manager);
    new DaemonSetController().register(manager);
    new StatefulSetController().register(manager);
    new JobController().register(manager);
    new CronJobController().register(manager);
    new EndpointSliceController().register(manager);
    await manager.start();
    return new ControllerManager(manager);
  }

  async stop(): Promise<void> {
    await this.manager.stop();
    this.manager.client.close();
  }
}
