#!/usr/bin/env bash
# End-to-end check of a deployment through its API, for the first deploy (and after upgrades): creates a
# throw-away gateway, waits for it, issues a client, downloads its profile, revokes it and deletes the
# gateway. Needs curl and jq.
#   BASE=https://<app>.azurewebsites.net/api KEY=<function key> TOKEN=<Entra token> scripts/smoke.sh
# KEY: the function key (x-functions-key); TOKEN: a bearer token for the API's app registration when
# App Service Authentication is on (az account get-access-token --resource api://<client id>).
# WAIT_SECONDS bounds each long-running operation (default 600: a load balancer address takes minutes).
set -euo pipefail
BASE=${BASE:?set BASE to the API base URL, e.g. https://<app>.azurewebsites.net/api}
GW=${GW:-smoke-$(date +%s)}
WAIT_SECONDS=${WAIT_SECONDS:-600}
H=()
if [[ -n "${KEY:-}" ]]; then H+=(-H "x-functions-key: $KEY"); fi
if [[ -n "${TOKEN:-}" ]]; then H+=(-H "Authorization: Bearer $TOKEN"); fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

# request METHOD PATH EXPECTED-STATUS [JSON]: the body in $OUT/body, headers in $OUT/headers
request() {
  local method=$1 path=$2 expected=$3 body=${4:-} status
  local args=(-sS -X "$method" "${H[@]}" -o "$OUT/body" -D "$OUT/headers" -w '%{http_code}')
  if [[ -n "$body" ]]; then args+=(-H 'content-type: application/json' --data "$body"); fi
  status=$(curl "${args[@]}" "$BASE$path") || fail "$method $path: no answer"
  [[ "$status" == "$expected" ]] || fail "$method $path: HTTP $status, expected $expected: $(cat "$OUT/body")"
  echo "smoke: $method $path -> $status" >&2
}

# wait_operation: polls the Operation-Location of the last answer until the operation ends
wait_operation() {
  local url status deadline=$((SECONDS + WAIT_SECONDS))
  url=$(grep -i '^operation-location:' "$OUT/headers" | cut -d' ' -f2 | tr -d '\r')
  [[ -n "$url" ]] || fail "no Operation-Location"
  while :; do
    status=$(curl -sS "${H[@]}" "$url" | jq -r .status)
    case "$status" in
      Succeeded) echo "smoke: operation $url Succeeded" >&2; return 0 ;;
      Failed | Canceled) fail "operation $url ended $status: $(curl -sS "${H[@]}" "$url")" ;;
    esac
    ((SECONDS < deadline)) || fail "operation $url still $status after ${WAIT_SECONDS}s"
    sleep 2
  done
}

request GET /healthz 200
request PUT "/gateways/$GW" 201 '{}'
wait_operation
request GET "/gateways/$GW" 200
[[ "$(jq -r .status.phase "$OUT/body")" == Ready ]] || fail "gateway $GW is not Ready: $(cat "$OUT/body")"
request POST "/gateways/$GW/clients" 201 '{"name":"smoke-client"}'
request GET "/gateways/$GW/clients/smoke-client/profile" 200
grep -q '^client$' "$OUT/body" || fail "the profile is not a client profile"
grep -q '^remote ' "$OUT/body" || fail "the profile names no server"
grep -q '<key>' "$OUT/body" || fail "the profile holds no key"
request DELETE "/gateways/$GW/clients/smoke-client" 200
[[ "$(jq -r .status "$OUT/body")" == revoked ]] || fail "the client is not revoked"
request DELETE "/gateways/$GW" 202
wait_operation
request GET "/gateways/$GW" 404
echo "smoke: OK ($GW created, client issued, profile downloaded, revoked, gateway deleted)"
