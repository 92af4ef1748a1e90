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
# `write-cni-conf-when-ready`, as the install does).
set -eu

: "${CNI_BIN_DIR:?CNI_BIN_DIR is required}"
: "${CNI_CONF_DIR:?CNI_CONF_DIR is required}"
APP_DIR=${APP_DIR:-/app}
NODE_BIN=${NODE_BIN:-$(command -v node)}
CNI_BUNDLE=${CNI_BUNDLE:-$APP_DIR/build/bundle/cilium-cni.mjs}
CNI_RUNTIME_DIR=${CNI_RUNTIME_DIR:-$CNI_BIN_DIR}
CONFLIST=05-cilium.conflist

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
