#!/usr/bin/env bash
# A real kube-apiserver (+ kube-controller-manager) for the integration tests, from Debian packages only
# (see ../shared/KUBE-APISERVER.md). Prints the directory holding kube-apiserver, kube-controller-manager
# and etcd on its last line.
#
#  - KUBEBUILDER_ASSETS set (the envtest convention) and holding kube-apiserver + etcd: used as is.
#  - otherwise: built once from Debian bookworm's kubernetes source package (v1.20.2) into
#    KUBE_ASSETS_DIR (default ~/.cache/aks-vpn-gateways/kube-v1.20.2); a rebuild reuses the Go cache.
set -euo pipefail

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

VERSION=1.20.5+really1.20.2-1.1+deb12u1
ASSETS="${KUBE_ASSETS_DIR:-$HOME/.cache/aks-vpn-gateways/kube-v1.20.2}"
BIN="$ASSETS/bin"
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/etcd" ]; then
  echo "$BIN"
  exit 0
fi

log() { echo "kube-apiserver build: $*" >&2; }
started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in etcd-server golang-go dpkg-dev rsync golang-github-modern-go-reflect2-dev make; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi
mkdir -p "$BIN"
ln -sf "$(command -v etcd)" "$BIN/etcd"

# The source package, through a private apt configuration: the system's sources, as deb-src.
APT="$ASSETS/apt"
mkdir -p "$APT/sources" "$APT/lists/partial" "$APT/cache/archives/partial" "$ASSETS/src"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types: .*/Types: deb-src/' "$f" > "$APT/sources/$(basename "$f")"
done
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$APT/sources/legacy.list" || true
fi
O=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$APT/sources" -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache")
SRC="$ASSETS/src/k8s"
if [ ! -d "$SRC" ]; then
  log "fetching the kubernetes source package $VERSION"
  apt-get "${O[@]}" update -qq >&2
  (cd "$ASSETS/src" && apt-get "${O[@]}" source --download-only "kubernetes=$VERSION" >&2 && dpkg-source -x kubernetes_*.dsc k8s >&2)
fi

# Fix 1: GOPATH mode, as upstream 1.20 builds.
export GOPATH="$ASSETS/gopath" GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS= GOCACHE="$ASSETS/gocache" TMPDIR="$ASSETS/tmp"
mkdir -p "$GOPATH/src/k8s.io" "$TMPDIR"
ln -sfn "$SRC" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"
# Fix 2: the vendored reflect2 1.0.1 crashes with Go >= 1.18: use Debian's 1.0.2.
R=vendor/github.com/modern-go/reflect2
if grep -q 'modern-go/reflect2 v1.0.1' go.mod; then
  rm -f "$R"/*.go "$R"/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$R"/
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$R"/ 2>/dev/null || true
  sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' go.mod vendor/modules.txt
fi
# Fix 3: the generated OpenAPI definitions are not in the tarball.
[ -f pkg/generated/openapi/zz_generated.openapi.go ] || make gen_openapi >&2

V=k8s.io/kubernetes/vendor/k8s.io/component-base/version
C=k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version
LD="-X $V.gitVersion=v1.20.2 -X $V.gitMajor=1 -X $V.gitMinor=20 -X $C.gitVersion=v1.20.2 -X $C.gitMajor=1 -X $C.gitMinor=20"
for cmd in kube-apiserver kube-controller-manager; do
  log "building $cmd"
  nice -n 10 go build -p 2 -ldflags "$LD" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
done
log "built in $(($(date +%s) - started)) s"
echo "$BIN"
