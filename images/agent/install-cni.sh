#!/bin/sh
# The agent's init container: installs the cilium-cni plugin and its conflist on the host.
# The container runtime runs CNI plugins on the host, outside any image, so the plugin ships as one
# ESM file that `npm run build` bundled (hack/build.ts: build/bundle/cilium-cni.mjs); it is
# installed next to a copy of the image's node binary, and /opt/cni/bin/cilium-cni is a small shell
# wrapper that runs it. Nothing is compiled here.
#
# Environment: CNI_BIN_DIR, CNI_CONF_DIR (host directories mounted into the init container),
# CNI_EXCLUSIVE ("true": move other configurations aside), and for tests APP_DIR (default /app),
# NODE_BIN (default: node on PATH), CNI_BUNDLE (default $APP_DIR/build/bundle/cilium-cni.mjs),
# CNI_RUNTIME_DIR (where the wrapper finds the bundle on the host, default $CNI_BIN_DIR),
# CNI_WRITE_CONF ("false": only the plugin; the agent writes the conflist once it is ready, its
# `write-cni-conf-when-ready`, as the install does), HOST_ROOT (the host's / mounted read-only;
# required).
#
# Before anything is written, the host is checked: the node binary must be built for the host's
# architecture (its ELF e_machine against `uname -m`, which in a container is the host kernel's),
# and its ELF interpreter (PT_INTERP, the libc loader such as /lib64/ld-linux-x86-64.so.2) must
# exist on the host. A plugin that cannot run there would otherwise be installed and fail every
# pod of the node with an exec error.
set -eu

: "${CNI_BIN_DIR:?CNI_BIN_DIR is required}"
: "${CNI_CONF_DIR:?CNI_CONF_DIR is required}"
APP_DIR=${APP_DIR:-/app}
NODE_BIN=${NODE_BIN:-$(command -v node)}
CNI_BUNDLE=${CNI_BUNDLE:-$APP_DIR/build/bundle/cilium-cni.mjs}
CNI_RUNTIME_DIR=${CNI_RUNTIME_DIR:-$CNI_BIN_DIR}
CONFLIST=05-cilium.conflist
: "${HOST_ROOT:?HOST_ROOT is required (the host's / mounted read-only, where the host check looks)}"

fail() {
  echo "install-cni: $*; nothing installed" >&2
  exit 1
}

# The unsigned integer of $2 bytes at offset $1 of $ELF, in the file's byte order ($ELF_BE=1: big).
elf_uint() {
  v=0 n=0
  for b in $(od -An -v -tu1 -j "$1" -N "$2" "$ELF"); do
    if [ "$ELF_BE" = 1 ]; then v=$((v * 256 + b)); else v=$((v + (b << (8 * n)))); fi
    n=$((n + 1))
  done
  [ "$n" -eq "$2" ] || fail "$ELF is truncated (an ELF header field at byte $1 is missing)"
  echo "$v"
}

# The ELF e_machine value of a `uname -m` name (elf.h EM_*); empty when unknown.
machine_of_uname() {
  case "$1" in
    x86_64 | amd64) echo 62 ;;
    aarch64 | arm64) echo 183 ;;
    armv6l | armv7l | armv8l | arm) echo 40 ;;
    i386 | i486 | i586 | i686) echo 3 ;;
    ppc64le | ppc64) echo 21 ;;
    s390x) echo 22 ;;
    riscv64) echo 243 ;;
    *) echo "" ;;
  esac
}

machine_name() {
  case "$1" in
    62) echo x86_64 ;; 183) echo aarch64 ;; 40) echo arm ;; 3) echo i386 ;; 21) echo ppc64 ;;
    22) echo s390x ;; 243) echo riscv64 ;; *) echo "e_machine $1" ;;
  esac
}

# $1 (an absolute path on the host) resolved under $HOST_ROOT, following symbolic links the way
# the host would (an absolute target is the host's, not this container's); fails if it does not exist.
host_path() {
  rest=$1 cur='' links=0
  while [ -n "$rest" ]; do
    comp=${rest%%/*}
    if [ "$comp" = "$rest" ]; then rest=''; else rest=${rest#*/}; fi
    case "$comp" in
      '' | .) continue ;;
      ..) cur=${cur%/*}; continue ;;
    esac
    if [ -L "$HOST_ROOT$cur/$comp" ]; then
      links=$((links + 1))
      [ "$links" -le 40 ] || return 1
      target=$(readlink "$HOST_ROOT$cur/$comp")
      case "$target" in /*) cur='' ;; esac
      rest="$target/$rest"
    elif [ -e "$HOST_ROOT$cur/$comp" ]; then
      cur="$cur/$comp"
    else
      return 1
    fi
  done
  echo "$HOST_ROOT$cur"
}

# The host check: architecture, then the loader the binary names.
check_host() {
  ELF=$1 ELF_BE=0
  [ -f "$ELF" ] || fail "$ELF does not exist"
  [ "$(od -An -tx1 -N4 "$ELF" | tr -d ' \n')" = 7f454c46 ] || fail "$ELF is not an ELF executable"
  class=$(elf_uint 4 1)
  [ "$(elf_uint 5 1)" = 2 ] && ELF_BE=1
  host_arch=$(uname -m)
  want=$(machine_of_uname "$host_arch")
  have=$(elf_uint 18 2)
  [ -n "$want" ] || fail "unknown host architecture $host_arch (uname -m)"
  [ "$have" = "$want" ] ||
    fail "$ELF is built for $(machine_name "$have") but this host is $host_arch: use the image built for $host_arch"
  if [ "$class" = 2 ]; then
    phoff=$(elf_uint 32 8) phentsize=$(elf_uint 54 2) phnum=$(elf_uint 56 2) off_at=8 size_at=32 width=8
  else
    phoff=$(elf_uint 28 4) phentsize=$(elf_uint 42 2) phnum=$(elf_uint 44 2) off_at=4 size_at=16 width=4
  fi
  i=0
  while [ "$i" -lt "$phnum" ]; do
    ph=$((phoff + i * phentsize))
    if [ "$(elf_uint "$ph" 4)" = 3 ]; then # PT_INTERP
      interp=$(tail -c +$(($(elf_uint $((ph + off_at)) "$width") + 1)) "$ELF" |
        head -c $(($(elf_uint $((ph + size_at)) "$width") - 1)))
      host_path "$interp" >/dev/null ||
        fail "$ELF needs the loader $interp (its libc), which the host does not have (looked in $HOST_ROOT$interp): a glibc host of the image's architecture is required"
      return 0
    fi
    i=$((i + 1))
  done
  # no PT_INTERP: a static binary needs no loader
}

check_host "$NODE_BIN"

if [ ! -f "$CNI_BUNDLE" ]; then
  echo "install-cni: $CNI_BUNDLE does not exist (run npm run build)" >&2
  exit 1
fi
mkdir -p "$CNI_BIN_DIR/cilium-cni.d" "$CNI_CONF_DIR"
tmp=$(mktemp -d "$CNI_BIN_DIR/.cilium-cni.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Copy into a temp dir first, then rename: a pod created meanwhile never runs half a file.
cp "$CNI_BUNDLE" "$tmp/cilium-cni.mjs"
cp "$NODE_BIN" "$tmp/node"
cat >"$tmp/cilium-cni" <<WRAPPER
#!/bin/sh
exec "$CNI_RUNTIME_DIR/cilium-cni.d/node" "$CNI_RUNTIME_DIR/cilium-cni.d/cilium-cni.mjs" "\$@"
WRAPPER
chmod 0755 "$tmp/cilium-cni" "$tmp/node"
mv -f "$tmp/node" "$tmp/cilium-cni.mjs" "$CNI_BIN_DIR/cilium-cni.d/"
mv -f "$tmp/cilium-cni" "$CNI_BIN_DIR/cilium-cni"

if [ "${CNI_EXCLUSIVE:-true}" = "true" ]; then
  # Other plugins' configurations would win or race; keep them, renamed, so uninstall can restore.
  for f in "$CNI_CONF_DIR"/*; do
    [ -f "$f" ] || continue
    case "$(basename "$f")" in
      "$CONFLIST" | *.cilium_bak) ;;
      *.conf | *.conflist | *.json) mv -f "$f" "$f.cilium_bak" ;;
    esac
  done
fi

if [ "${CNI_WRITE_CONF:-true}" = "false" ]; then
  echo "install-cni: cilium-cni installed in $CNI_BIN_DIR; the agent writes $CONFLIST when ready"
  exit 0
fi
cat >"$CNI_CONF_DIR/.$CONFLIST.tmp" <<'CONF'
{
  "cniVersion": "1.0.0",
  "name": "cilium",
  "plugins": [
    {
      "type": "cilium-cni",
      "enable-debug": false,
      "log-file": "/var/run/cilium/cilium-cni.log"
    }
  ]
}
CONF
mv -f "$CNI_CONF_DIR/.$CONFLIST.tmp" "$CNI_CONF_DIR/$CONFLIST"
echo "install-cni: cilium-cni installed in $CNI_BIN_DIR, $CONFLIST written to $CNI_CONF_DIR"
