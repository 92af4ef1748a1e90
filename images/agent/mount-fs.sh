#!/bin/sh
# The agent's mount-bpf-fs and mount-cgroup init containers: `mount-fs.sh bpf|cgroup2 PATH` mounts
# that filesystem at PATH unless PATH is one already, as upstream's init containers do. PATH is a
# hostPath mounted with Bidirectional propagation, so the mount appears on the node and outlives
# the pod (pinned maps keep forwarding). A failed mount fails the container: the kubelet retries
# it and the pod shows why.
set -eu

type=${1:?usage: mount-fs.sh bpf|cgroup2 PATH}
path=${2:?usage: mount-fs.sh bpf|cgroup2 PATH}
case "$type" in
  bpf) magic=bpf_fs ;;
  cgroup2) magic=cgroup2fs ;;
  *)
    echo "mount-fs: unknown filesystem type $type (bpf or cgroup2)" >&2
    exit 2
    ;;
esac
mkdir -p "$path"
have=$(stat -f -c %T "$path")
if [ "$have" = "$magic" ]; then
  echo "mount-fs: $type already mounted at $path"
  exit 0
fi
mount -t "$type" "$type" "$path"
echo "mount-fs: mounted $type at $path (was $have)"
