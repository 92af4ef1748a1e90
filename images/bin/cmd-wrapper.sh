#!/bin/sh
# Runs the TypeScript entry point named like this link (cilium-agent → /app/cmd/cilium-agent.ts)
# with the image's Node. Each binary name in the image is a symlink to this script.
set -eu
name=$(basename "$0")
exec node --import tsx "/app/cmd/${name}.ts" "$@"
