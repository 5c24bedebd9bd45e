#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages on a fresh machine (CI runs as root).
# Idempotent: does nothing when everything is already there.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have openvpn || need+=(openvpn)
have iptables || need+=(iptables)
have ip || need+=(iproute2)
have openssl || need+=(openssl)
have curl || need+=(curl)
have socat || need+=(socat)
have jq || need+=(jq)
have ps || need+=(procps)
have mmdebstrap || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "prereqs: missing ${need[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "prereqs: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A real kube-apiserver for the Kubernetes adapter's integration tests (built once, then cached).
started=$(date +%s)
assets=$(bash "$(dirname "$0")/kube-apiserver/build.sh")
echo "prereqs: kube-apiserver, kube-controller-manager and etcd in $assets ($(($(date +%s) - started)) s)"

# The gateway image's root filesystem, in which the end-to-end suite runs the pod (built once per package list).
started=$(date +%s)
rootfs=$(bash "$(dirname "$0")/image-rootfs.sh" | tail -n 1)
echo "prereqs: gateway image root filesystem in $rootfs ($(($(date +%s) - started)) s)"
