#!/usr/bin/env bash
# A real kube-apiserver + kube-controller-manager + etcd for the integration tests, from Debian packages only
# (upstream v1.20.2 from Debian bookworm's kubernetes source package, built in GOPATH mode). Prints the directory
# holding all three on its last line.
#
#  - KUBEBUILDER_ASSETS set (the envtest convention) and holding kube-apiserver + etcd:
#      - with kube-controller-manager too: used as is;
#      - without it (setup-envtest does not ship one): a v1.20/v1.21 kube-apiserver gets the v1.20.2
#        kube-controller-manager built below (within Kubernetes' version skew policy), all three linked into
#        one directory of the cache; any other version is refused with a message saying what to do.
#  - otherwise: built once from Debian bookworm's kubernetes source package (v1.20.2) into
#    KUBE_ASSETS_DIR (default ~/.cache/aks-vpn-gateways/kube-v1.20.2); a rebuild reuses the Go cache.
set -euo pipefail

VERSION=1.20.5+really1.20.2-1.1+deb12u1
ASSETS="${KUBE_ASSETS_DIR:-$HOME/.cache/aks-vpn-gateways/kube-v1.20.2}"
BIN="$ASSETS/bin"

# Concurrent test runs (several worktrees, parallel CI steps) share the cache: one builds, the others wait for it.
mkdir -p "$ASSETS"
exec 9>"$ASSETS/.build.lock"
flock 9

log() { echo "kube-apiserver build: $*" >&2; }
die() {
  log "$*"
  exit 1
}

install_packages() {
  local need=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  fi
}

# Builds the given commands (kube-apiserver, kube-controller-manager) of v1.20.2 into $BIN.
build_from_source() (
  started=$(date +%s)
  install_packages golang-go dpkg-dev rsync golang-github-modern-go-reflect2-dev make
  mkdir -p "$BIN"

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
  for cmd in "$@"; do
    log "building $cmd"
    nice -n 10 go build -p 2 -ldflags "$LD" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  done
  log "built $* in $(($(date +%s) - started)) s"
)

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  given=$(cd "$KUBEBUILDER_ASSETS" && pwd)
  if [ -x "$given/kube-controller-manager" ]; then
    echo "$given"
    exit 0
  fi
  version=$("$given/kube-apiserver" --version 2>/dev/null | awk '{print $2}') || true
  case "$version" in
    v1.20.* | v1.21.*) ;;
    *)
      die "KUBEBUILDER_ASSETS=$given holds kube-apiserver ${version:-(version unknown)} and etcd but no" \
        "kube-controller-manager, which the tests need (it turns Deployments into ReplicaSets and Pods;" \
        "setup-envtest does not ship one). Add the kube-controller-manager of the same version to that" \
        "directory, or unset KUBEBUILDER_ASSETS to use the v1.20.2 build from Debian's source package" \
        "(its kube-controller-manager is only paired with a v1.20 or v1.21 kube-apiserver: version skew)."
      ;;
  esac
  [ -x "$BIN/kube-controller-manager" ] || build_from_source kube-controller-manager
  combined="$ASSETS/assets-$(printf %s "$given" | sha256sum | cut -c1-12)"
  mkdir -p "$combined"
  ln -sfn "$given/kube-apiserver" "$combined/kube-apiserver"
  ln -sfn "$given/etcd" "$combined/etcd"
  ln -sfn "$BIN/kube-controller-manager" "$combined/kube-controller-manager"
  log "kube-apiserver $version and etcd from $given, kube-controller-manager v1.20.2 from $BIN"
  echo "$combined"
  exit 0
fi

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/etcd" ]; then
  echo "$BIN"
  exit 0
fi
install_packages etcd-server
mkdir -p "$BIN"
ln -sf "$(command -v etcd)" "$BIN/etcd"
build_from_source kube-apiserver kube-controller-manager
echo "$BIN"
