#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One-time and every-time setup: Debian packages, bpffs, npm packages, native builds.
# Idempotent and quick when everything is present (CI and `npm test` call it every run).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# Debian packages the project needs; grows with the project.
DEB_PACKAGES=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool linux-libc-dev
  etcd-server iproute2 iptables iperf3 make g++ python3 openssl
  wrk nginx-light
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
log "done"
