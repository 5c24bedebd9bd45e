#!/usr/bin/env bash
# The gateway image's root filesystem, for the end-to-end suite, without Docker: the Debian suite of the
# Dockerfile's `FROM debian:<suite>-slim` and the image's package list (infra/image/packages.txt, the file the
# Dockerfile installs), installed by Debian's mmdebstrap from this machine's apt sources. `--variant=minbase`
# with the merged-/usr hook and the slim image's dpkg excludes gives debian:<suite>-slim's package set; the
# packages come without Recommends, like `apt-get install --no-install-recommends` in the Dockerfile.
#
# Built once per (suite, package list, recipe) into IMAGE_ROOTFS_CACHE_DIR (default ~/.cache/aks-vpn-gateways)
# as image-rootfs-<suite>-<hash>, then reused; concurrent runs wait for one build. Delete the directory to pick
# up newer packages. Needs root (mmdebstrap's root mode). Prints the directory on its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
IMAGE_DIR="$here/infra/image"
CACHE="${IMAGE_ROOTFS_CACHE_DIR:-$HOME/.cache/aks-vpn-gateways}"

log() { echo "image rootfs: $*" >&2; }
die() {
  log "$*"
  exit 1
}

suite=$(sed -n -E 's/^FROM[[:space:]]+debian:([a-z]+)(-slim)?([[:space:]].*)?$/\1/p' "$IMAGE_DIR/Dockerfile" | head -n 1)
[ -n "$suite" ] || die "$IMAGE_DIR/Dockerfile has no 'FROM debian:<suite>-slim' line"
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$IMAGE_DIR/packages.txt" | grep -v '^$')
[ ${#packages[@]} -gt 0 ] || die "$IMAGE_DIR/packages.txt lists no package"

# What debian:<suite>-slim is: minbase, merged /usr, no documentation, manuals or translations (debuerreotype's
# slimify lists, as dpkg excludes so the image's own packages obey them too), no translated package lists.
recipe=(
  --variant=minbase
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='Acquire::Languages "none"'
)
for path in /usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*' /usr/share/linda/'*' \
  /usr/share/lintian/overrides/'*' /usr/share/locale/'*' /usr/share/man/'*'; do
  recipe+=("--dpkgopt=path-exclude=$path")
done
recipe+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")

key=$(printf '%s\n' "$suite" "${packages[@]}" "${recipe[@]}" | sha256sum | cut -c1-16)
target="$CACHE/image-rootfs-$suite-$key"
if [ -x "$target/bin/sh" ]; then
  echo "$target"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building $target needs root (mmdebstrap's root mode)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap (scripts/prereqs.sh does)"
mkdir -p "$CACHE"
exec 9>"$CACHE/image-rootfs.lock"
flock 9
if [ -x "$target/bin/sh" ]; then # built by a concurrent run while this one waited
  echo "$target"
  exit 0
fi

# This machine's Debian mirrors (main, -updates, -security), for the Dockerfile's suite. On a machine that is
# not Debian, mmdebstrap's default: deb.debian.org, with -updates and -security added for a stable suite.
mirrors=()
host_id=$(. /etc/os-release && echo "${ID:-}")
host_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$host_id" = debian ] && [ -n "$host_codename" ]; then
  while read -r uri release components; do
    mirrors+=("deb $uri $suite${release#"$host_codename"} $components")
  done < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
    awk -v c="$host_codename" '$2 ~ "^" c "(-updates|-security)?$" { k = $1 " " $2; if (!(k in seen)) order[++n] = k; seen[k] = seen[k] (seen[k] ? " " : "") $3 }
      END { for (i = 1; i <= n; i++) print order[i], seen[order[i]] }')
fi
[ ${#mirrors[@]} -gt 0 ] && log "mirrors: ${mirrors[*]}"

started=$(date +%s)
log "building $suite + ${packages[*]} into $target"
rm -rf "$target.tmp"
include=$(IFS=,; echo "${packages[*]}")
mmdebstrap --mode=root --format=directory --quiet "${recipe[@]}" --include="$include" \
  "$suite" "$target.tmp" "${mirrors[@]}" >&2
mv "$target.tmp" "$target"
log "built in $(($(date +%s) - started)) s ($(du -sh "$target" | cut -f1))"
echo "$target"
