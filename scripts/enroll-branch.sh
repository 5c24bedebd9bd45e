#!/bin/sh
# Enrolls this branch box as an OpenVPN client of an aks-vpn-gateways gateway with a one-time token.
# The private key is made here and never leaves this machine: only a CSR is sent.
#
#   enroll-branch.sh <enroll-url> <token> [name] [dir]
#   ENROLL_URL=… ENROLL_TOKEN=… [ENROLL_NAME=…] [ENROLL_DIR=…] enroll-branch.sh
#
#   enroll-url  the `enrollUrl` of the enrollment (…/api/enroll?keyType=rsa|ec): keyType=ec makes an ECDSA
#               P-256 key, anything else RSA-2048 (ENROLL_KEY_TYPE=rsa|ec overrides)
#   token       the one-time token (better passed as ENROLL_TOKEN: arguments show in the process list)
#   name        file and unit name (default: the gateway named in the token); letters, digits, - and _
#   dir         where <name>.conf and <name>.key go (default /etc/openvpn/client)
#
# Other settings: ENROLL_SYSTEMD=auto|yes|no (auto: enable openvpn-client@<name> when systemd runs and dir
# is /etc/openvpn/client), ENROLL_ALLOW_HTTP=1 (allow a plain-http URL: the token would cross the network in
# clear; for local tests only), ENROLL_CA_FILE (a CA bundle for curl).
#
# Needs only a POSIX shell, openssl and curl. On any failure it says why and leaves nothing behind: the
# key, the request and the answer stay in a private temporary directory inside <dir> until the end, then
# the key and the config are renamed into place; an existing <name>.conf or <name>.key is never replaced.
set -eu
umask 077

die() {
  printf 'enroll-branch: %s\n' "$*" >&2
  exit 1
}

usage() {
  die "usage: enroll-branch.sh <enroll-url> <token> [name] [dir] (or ENROLL_URL, ENROLL_TOKEN, ENROLL_NAME, ENROLL_DIR)"
}

url=${1:-${ENROLL_URL:-}}
token=${2:-${ENROLL_TOKEN:-}}
[ -n "$url" ] && [ -n "$token" ] || usage
name=${3:-${ENROLL_NAME:-${token%%.*}}}
dir=${4:-${ENROLL_DIR:-/etc/openvpn/client}}

for tool in openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not installed"
done
case $name in
  '' | *[!A-Za-z0-9_-]*) die "name '$name' must be letters, digits, - and _ only" ;;
esac
case $token in
  *[!A-Za-z0-9._-]*) die "the token holds characters no token has: check that it was copied whole" ;;
esac
case $url in
  https://*) ;;
  http://*) [ "${ENROLL_ALLOW_HTTP:-}" = 1 ] || die "refusing to send the token over plain http (set ENROLL_ALLOW_HTTP=1 for a local test)" ;;
  *) die "the enroll URL must start with https://" ;;
esac
key_type=${ENROLL_KEY_TYPE:-}
if [ -z "$key_type" ]; then
  case $url in
    *[?\&]keyType=ec | *[?\&]keyType=ec\&*) key_type=ec ;;
    *) key_type=rsa ;;
  esac
fi
case $key_type in rsa | ec) ;; *) die "ENROLL_KEY_TYPE must be rsa or ec" ;; esac

mkdir -p "$dir" || die "cannot create $dir"
dir=$(cd "$dir" && pwd) || die "cannot enter $dir"
conf="$dir/$name.conf"
key="$dir/$name.key"
for f in "$conf" "$key"; do
  [ ! -e "$f" ] || die "$f exists: remove it first (nothing was changed)"
done

tmp=$(mktemp -d "$dir/.enroll-$name.XXXXXX") || die "cannot create a temporary directory in $dir"
moved_key=
cleanup() {
  rm -rf "$tmp"
  # A key moved into place before the config failed to follow is taken back: all or nothing.
  [ -z "$moved_key" ] || [ -e "$conf" ] || rm -f "$key"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

if [ "$key_type" = ec ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>"$tmp/err" ||
    die "openssl could not make a P-256 key: $(cat "$tmp/err")"
else
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/key.pem" 2>"$tmp/err" ||
    die "openssl could not make an RSA key: $(cat "$tmp/err")"
fi
chmod 600 "$tmp/key.pem"
openssl req -new -key "$tmp/key.pem" -subj "/CN=$name" -outform DER -out "$tmp/req.der" 2>"$tmp/err" ||
  die "openssl could not make the request: $(cat "$tmp/err")"

# The token goes to curl in a header file, not on its command line (which other users may read).
printf 'Authorization: Bearer %s\n' "$token" >"$tmp/auth"
status=$(curl -sS --proto '=https,http' --max-time 60 ${ENROLL_CA_FILE:+--cacert "$ENROLL_CA_FILE"} \
  -X POST -H @"$tmp/auth" -H 'Content-Type: application/pkcs10' --data-binary @"$tmp/req.der" \
  -o "$tmp/answer" -w '%{http_code}' "$url" 2>"$tmp/err") ||
  die "could not reach $url: $(cat "$tmp/err")"
case $status in
  200) ;;
  401) die "the token was refused (unknown, already used, expired or revoked): ask for a new enrollment" ;;
  *) die "enrollment failed with HTTP $status: $(head -c 600 "$tmp/answer")" ;;
esac
grep -q '^<cert>' "$tmp/answer" && grep -q '^client' "$tmp/answer" ||
  die "the answer is not an OpenVPN profile: $(head -c 200 "$tmp/answer")"

# The profile has no <key>: the config names the key file made here.
{
  cat "$tmp/answer"
  printf '\n# The private key was made on this machine by enroll-branch.sh.\nkey "%s"\n' "$key"
} >"$tmp/conf"
chmod 600 "$tmp/conf"

mv "$tmp/key.pem" "$key" || die "cannot move the key into $dir"
moved_key=1
mv "$tmp/conf" "$conf" || die "cannot move the config into $dir"
printf 'enroll-branch: enrolled; config %s, key %s (%s)\n' "$conf" "$key" "$key_type"

systemd=${ENROLL_SYSTEMD:-auto}
if [ "$systemd" = auto ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && [ "$dir" = /etc/openvpn/client ]; then
    systemd=yes
  else
    systemd=no
  fi
fi
if [ "$systemd" = yes ]; then
  systemctl enable --now "openvpn-client@$name" ||
    die "enrolled, but systemctl could not start openvpn-client@$name (config and key are in place)"
  printf 'enroll-branch: openvpn-client@%s enabled and started\n' "$name"
else
  printf 'enroll-branch: start it with: openvpn --config %s\n' "$conf"
fi
