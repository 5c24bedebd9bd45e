#!/bin/sh
# azd prepackage hook of the `api` service: stages exactly what the Function app runs into .azd-package
# (azure.yaml `dist`), which azd then zips with .funcignore applied: host.json, package.json, the compiled
# dist/ and the production dependencies (`npm ci --omit=dev`). The working tree is never zipped,
# so .git, tests, infra/, .data (sandbox secrets) and profiles (*.ovpn) cannot ship, and the developer's
# node_modules keeps its dev dependencies.
set -eu
cd "$(dirname "$0")/../.."
STAGE=.azd-package

npm run build
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp host.json package.json package-lock.json .funcignore "$STAGE/"
cp -R dist "$STAGE/dist"
# Production dependencies exactly as locked; no install scripts (none of them needs one). The lockfile
# is only the install's input: the host does not read it.
(cd "$STAGE" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error \
  && rm package-lock.json)
echo "stage-package: $STAGE ready ($(du -sh "$STAGE" | cut -f1))"
