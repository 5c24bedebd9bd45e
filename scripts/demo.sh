#!/usr/bin/env bash
# The README walk-through, runnable: every call of the API against a running `npm start` sandbox
# (or any deployment: BASE=https://<app>.azurewebsites.net/api KEY=<function key> scripts/demo.sh).
# Needs curl and jq. Each command is printed before it runs; the script stops at the first surprise.
set -euo pipefail

BASE=${BASE:-http://127.0.0.1:7071/api}
GW=${GW:-demo-$$}
OUT=${OUT:-$(mktemp -d)}
AUTH=()
if [[ -n "${KEY:-}" ]]; then AUTH=(-H "x-functions-key: $KEY"); fi

show() { printf '\n$ %s\n' "$*" >&2; }

# call METHOD PATH [JSON] -> prints the body; fails unless the status is the expected one ($EXPECT, default 2xx)
call() {
  local method=$1 path=$2 body=${3:-}
  local args=(-sS -X "$method" "${AUTH[@]}" -o "$OUT/body" -w '%{http_code}' -D "$OUT/headers")
  if [[ -n "$body" ]]; then args+=(-H 'content-type: application/json' --data "$body"); fi
  local verb=()
  if [[ "$method" != GET ]]; then verb=(-X "$method"); fi
  if [[ -n "$body" ]]; then show curl "${verb[@]}" "'$BASE$path'" -H "'content-type: application/json'" -d "'$body'"
  else show curl "${verb[@]}" "'$BASE$path'"; fi
  local status
  status=$(curl "${args[@]}" "$BASE$path")
  printf '%s\n' "HTTP $status" >&2
  if [[ -n "${EXPECT:-}" ]]; then
    [[ "$status" == "$EXPECT" ]] || { echo "expected $EXPECT, got $status: $(cat "$OUT/body")" >&2; exit 1; }
  else
    [[ "$status" == 2* ]] || { echo "unexpected $status: $(cat "$OUT/body")" >&2; exit 1; }
  fi
  cat "$OUT/body"
}

header() { grep -i "^$1:" "$OUT/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# wait OPERATION_URL: polls until the operation ends; fails unless it Succeeded
wait_for() {
  local url=$1 status=Running
  show curl "$url"
  for _ in $(seq 1 120); do
    status=$(curl -sS "${AUTH[@]}" "$url" | jq -r .status)
    [[ "$status" == Running || "$status" == NotStarted ]] || break
    sleep 0.5
  done
  echo "operation: $status" >&2
  [[ "$status" == Succeeded ]]
}

call GET /healthz | jq .
call GET /openapi.json | jq '{openapi, paths: (.paths | keys)}'

# 1. A gateway: every field is optional (vpnSubnet 10.140.0.0/24, port 443, routes from the cluster).
call PUT "/gateways/$GW" '{"routes":["10.0.0.0/16","10.244.0.0/16"],"publicHost":"vpn.example.com"}' | jq '{name, vpnSubnet, routes, port, status}'
wait_for "$(header operation-location)"
call GET "/gateways/$GW" | jq '{name, status}'
call GET /gateways | jq '[.value[].name]'

# An update: a change the server reads (an extra pushed route) rolls the pod; one it does not read
# (the default client validity) is applied without a roll (200, no Operation-Location).
call PUT "/gateways/$GW" '{"routes":["10.0.0.0/16","10.244.0.0/16"],"extraRoutes":["192.168.50.0/24"],"publicHost":"vpn.example.com"}' | jq '{routes, status}'
wait_for "$(header operation-location)"
call PUT "/gateways/$GW" '{"routes":["10.0.0.0/16","10.244.0.0/16"],"extraRoutes":["192.168.50.0/24"],"publicHost":"vpn.example.com","clientCertValidityDays":180}' | jq '{clientCertValidityDays}'
[[ -z "$(header operation-location)" ]] || { echo "a validity change started a roll" >&2; exit 1; }

# 2. Clients: a static tunnel address each, a certificate, an .ovpn profile.
call POST "/gateways/$GW/clients" '{"name":"site-a"}' | jq '{name, ip, serial, notAfter, status}'
call POST "/gateways/$GW/clients" '{"name":"site-b","staticIp":"10.140.0.50","validityDays":90}' | jq '{name, ip, notAfter}'
call GET "/gateways/$GW/clients" | jq '[.value[] | {name, ip, status}]'
call GET "/gateways/$GW/clients/site-a" | jq '{name, ip, keySource}'
call GET "/gateways/$GW/clients/site-a/profile" > "$OUT/site-a.ovpn"
grep -E '^(client|remote|proto|verify-x509-name)' "$OUT/site-a.ovpn" >&2

# Branch LANs: site-b's LAN is routed to it (an iroute in its CCD entry, a route in the pod), live, no roll;
# another client cannot claim an overlapping LAN (409).
call PUT "/gateways/$GW/clients/site-b/subnets" '{"subnets":["192.168.20.0/24"]}' | jq .
call GET "/gateways/$GW/clients/site-b/subnets" | jq .
EXPECT=409 call POST "/gateways/$GW/clients" '{"name":"site-c","subnets":["192.168.20.128/25"]}' | jq '{status, detail}'

# 3. Port mappings: pods reach site-a's port 80 as pm-8081.vpn-<gateway>:8081, and the host 192.168.20.10 on
# site-b's LAN as pm-8082.vpn-<gateway>:8082 (applied by a roll).
call PUT "/gateways/$GW/port-mappings" '{"mappings":[{"port":8081,"client":"site-a","targetPort":80},{"port":8082,"client":"site-b","targetPort":80,"targetHost":"192.168.20.10"}]}' | jq .
wait_for "$(header operation-location)"
call GET "/gateways/$GW/port-mappings" | jq .

# 4. Revocation: refused while a mapping targets the client, then forced (the mapping goes too).
EXPECT=409 call DELETE "/gateways/$GW/clients/site-a" | jq '{status, detail}'
call DELETE "/gateways/$GW/clients/site-a?force=true" | jq '{name, status, revokedAt}'
call GET "/gateways/$GW/crl" > "$OUT/crl.der"
show openssl crl -inform DER -in crl.der -noout -text
openssl crl -inform DER -in "$OUT/crl.der" -noout -text | grep -E 'Serial Number|CRL Number' >&2
EXPECT=409 call GET "/gateways/$GW/clients/site-a/profile" | jq '{status, detail}'

# 5. Validation: problem+json with one entry per bad field; nothing is changed.
EXPECT=400 call POST "/gateways/$GW/clients" '{"name":"Bad/Name","staticIp":"10.140.0.0"}' | jq .

# 6. Restart (a roll), then tear down.
call POST "/gateways/$GW/restart" | jq .
wait_for "$(header operation-location)"
call DELETE "/gateways/$GW" | jq .
wait_for "$(header operation-location)"
EXPECT=404 call GET "/gateways/$GW" | jq '{status, detail}'
echo "demo finished: gateway $GW created, used and deleted" >&2
