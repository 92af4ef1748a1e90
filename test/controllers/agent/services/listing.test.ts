// `cilium-dbg service list` and `bpf lb list` rows, from the LB maps of the sim load balancer:
// upstream's columns and formats (cilium-dbg/cmd/service_list.go, bpf_lb_list.go).
import { describe, expect, it } from '@jest/globals';
import { SimLoadBalancer } from '../../../../datapath/lb-sim.js';
import type { LbService } from '../../../../datapath/lb.js';
import { lbListRows, serviceListRows, serviceModels } from '../../../../controllers/agent/services/listing.js';

const services: LbService[] = [
  {
    name: 'kube-system/kube-dns',
    frontend: { address: '10.96.0.10', port: 53, proto: 'UDP' },
    type: 'ClusterIP',
    backends: [
      { address: '10.0.0.7', port: 53, proto: 'UDP', state: 'active' },
      { address: '10.0.1.9', port: 53, proto: 'UDP', state: 'active' },
    ],
  },
  {
    name: 'default/web',
    frontend: { address: '0.0.0.0', port: 31940, proto: 'TCP' },
    type: 'NodePort',
    routable: false,
    backends: [{ address: '10.0.0.8', port: 80, proto: 'TCP', state: 'terminating' }],
  },
];

describe('listings', () => {
  const lb = new SimLoadBalancer();
  lb.syncServices(services);
  const names = new Map([
    ['10.96.0.10:53/UDP', 'kube-system/kube-dns'],
    ['0.0.0.0:31940/TCP', 'default/web'],
  ]);

  it('service list: ID, Frontend, Service Type, Backend (one line per backend)', () => {
    expect(serviceListRows(serviceModels(lb.dump(), names))).toEqual([
      ['1', '10.96.0.10:53/UDP', 'ClusterIP', '1 => 10.0.0.7:53/UDP (active)'],
      ['', '', '', '2 => 10.0.1.9:53/UDP (active)'],
      ['2', '0.0.0.0:31940/TCP', 'NodePort', '1 => 10.0.0.8:80/TCP (terminating)'],
    ]);
    expect(serviceModels(lb.dump(), names).map((m) => m.name)).toEqual(['kube-system/kube-dns', 'default/web']);
  });

  it('bpf lb list: SERVICE ADDRESS (slot), BACKEND ADDRESS (REVNAT_ID) (SLOT), flags on the frontend row', () => {
    expect(lbListRows(lb.dump())).toEqual([
      ['0.0.0.0:31940/TCP (0)', '0.0.0.0:0 (2) (0) [NodePort, non-routable]'],
      ['0.0.0.0:31940/TCP (1)', '10.0.0.8:80/TCP (2) (1)'],
      ['10.96.0.10:53/UDP (0)', '0.0.0.0:0 (1) (0) [ClusterIP]'],
      ['10.96.0.10:53/UDP (1)', '10.0.0.7:53/UDP (1) (1)'],
      ['10.96.0.10:53/UDP (2)', '10.0.1.9:53/UDP (1) (2)'],
    ]);
  });
});
