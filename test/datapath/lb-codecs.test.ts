// Golden layout test for the load-balancer maps: the C compiler, not this file, says where every
// field of datapath/bpf/lb.h lives. A probe generated from the codec descriptions (c-layout-probe.ts)
// is compiled against lb.h with the host compiler, and compared: sizeof, offsetof of
// every field, the bytes of a struct filled with the same values on both sides, and every define.
import { lbStructs } from '../../datapath/lb-codecs.js';
import { LbDefines } from '../../datapath/lb-constants.js';
import { describeHeaderMirror } from './c-layout-probe.js';

describeHeaderMirror({
  header: 'lb.h',
  structs: lbStructs,
  defines: /^#define\s+((?:LB|SVC|BE)_\w+)\s/gm,
  values: LbDefines,
  codecs: 'lb-constants.ts',
});
