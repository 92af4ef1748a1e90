#!/bin/sh
# Runs the compiled entry point named like this link (cilium-agent → /app/build/cmd/cilium-agent.js,
# built by `npm run build` in the image's build stage) with the image's Node: no TypeScript loader
# at start-up. Each binary name in the image is a symlink to this script.
set -eu
name=$(basename "$0")
exec node "/app/build/cmd/${name}.js" "$@"
