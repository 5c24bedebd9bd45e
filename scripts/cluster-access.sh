#!/bin/sh
# Grants the API's managed identity its rights in the AKS cluster: the ClusterRole of infra/kube and a
# binding to the identity's object id. Run once after the first `azd up`, by someone who may create RBAC
# objects in the cluster (e.g. with `az aks get-credentials` and kubelogin, as a cluster admin).
#   scripts/cluster-access.sh           apply with kubectl (current context)
#   scripts/cluster-access.sh --print   print the manifests instead
# The object id comes from MANAGED_IDENTITY_PRINCIPAL_ID, else from the azd environment.
set -eu
cd "$(dirname "$0")/.."
PRINCIPAL_ID=${MANAGED_IDENTITY_PRINCIPAL_ID:-$(azd env get-value MANAGED_IDENTITY_PRINCIPAL_ID)}
if ! printf '%s' "$PRINCIPAL_ID" | grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'; then
  echo "cluster-access: '$PRINCIPAL_ID' is not an object id (MANAGED_IDENTITY_PRINCIPAL_ID, an azd output)" >&2
  exit 1
fi
render() {
  cat infra/kube/cluster-role.yaml
  echo '---'
  sed "s/\${PRINCIPAL_ID}/$PRINCIPAL_ID/" infra/kube/cluster-role-binding.yaml
}
if [ "${1:-}" = --print ]; then
  render
else
  render | kubectl apply -f -
fi
