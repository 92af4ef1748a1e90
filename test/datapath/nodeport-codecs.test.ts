// Golden layout test for the per-packet NodePort maps: the C compiler, not this file, says where
// every field of datapath/bpf/nodeport.h lives (sizeof, offsetof, the bytes of a filled-in struct
// and every define), compared with datapath/nodeport-codecs.ts.
import { NodePortDefines, nodePortStructs } from '../../datapath/nodeport-codecs.js';
import { describeHeaderMirror } from './c-layout-probe.js';

describeHeaderMirror({
  header: 'nodeport.h',
  structs: nodePortStructs,
  defines: /^#define\s+(NODEPORT_\w+)\s/gm,
  values: NodePortDefines,
  codecs: 'nodeport-codecs.ts',
});
