#!/usr/bin/env bash
# Runs the datapath addon's tests against its AddressSanitizer build (datapath/Makefile `asan`):
# a heap overflow or use after free in the C code aborts the run with ASan's report. Node is not
# instrumented, so libasan is preloaded; leak checking is off (V8 and libbpf keep allocations for
# the life of the process, which LeakSanitizer would report).
# Usage: hack/asan-addon.sh [jest path regex]   (default: the addon tests)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -C datapath asan
libasan="$(${CC:-gcc} -print-file-name=libasan.so)"
[ -f "$libasan" ] || { echo "asan-addon: libasan not found ($libasan); install the gcc ASan runtime" >&2; exit 1; }
export CILIUM_TS_DATAPATH_ADDON="$PWD/datapath/build/ebpf_loader.asan.node"
export LD_PRELOAD="$libasan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
exec node_modules/.bin/node --experimental-vm-modules --no-warnings=ExperimentalWarning \
  node_modules/jest/bin/jest.js --runInBand "${1:-test/datapath/addon}"
