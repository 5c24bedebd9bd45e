#!/bin/sh
# azd postprovision hook: builds the gateway image (infra/image) in the deployment's Azure Container Registry
# with `az acr build` and points OPENVPN_IMAGE at it by digest, in the azd environment (so the next provision
# keeps it) and in the Function app's settings (the first provision ran before the image existed).
# The tag is a hash of infra/image, so an unchanged image is not rebuilt. Needs the Azure CLI, signed in
# (`az login`) as someone who may run ACR tasks on the registry and set the app's settings.
set -eu
cd "$(dirname "$0")/../.."

: "${AZURE_CONTAINER_REGISTRY_NAME:?run azd provision first: the registry name is one of its outputs}"
: "${AZURE_CONTAINER_REGISTRY_ENDPOINT:?run azd provision first: the registry login server is one of its outputs}"
: "${AZURE_FUNCTION_APP_NAME:?run azd provision first: the Function app name is one of its outputs}"
: "${AZURE_RESOURCE_GROUP:?run azd provision first: the resource group is one of its outputs}"

REPOSITORY=aks-vpn-gateways/openvpn
# Content hash of every file of the build context (names and bytes), in a stable order.
TAG=$(cd infra/image && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)

digest() {
  az acr repository show --name "$AZURE_CONTAINER_REGISTRY_NAME" --image "$REPOSITORY:$TAG" \
    --query digest --output tsv 2>/dev/null || true
}

DIGEST=$(digest)
if [ -z "$DIGEST" ]; then
  echo "build-image: building $REPOSITORY:$TAG from infra/image in $AZURE_CONTAINER_REGISTRY_NAME"
  az acr build --registry "$AZURE_CONTAINER_REGISTRY_NAME" --image "$REPOSITORY:$TAG" infra/image
  DIGEST=$(digest)
else
  echo "build-image: $REPOSITORY:$TAG is already in $AZURE_CONTAINER_REGISTRY_NAME"
fi
case "$DIGEST" in
  sha256:*) ;;
  *) echo "build-image: no digest for $REPOSITORY:$TAG after the build" >&2; exit 1 ;;
esac

IMAGE="$AZURE_CONTAINER_REGISTRY_ENDPOINT/$REPOSITORY@$DIGEST"
if [ "${OPENVPN_IMAGE:-}" = "$IMAGE" ]; then
  # The provision that just ran already set the app setting from the azd environment.
  echo "build-image: OPENVPN_IMAGE is already $IMAGE"
  exit 0
fi
echo "build-image: OPENVPN_IMAGE=$IMAGE"
azd env set OPENVPN_IMAGE "$IMAGE"
az functionapp config appsettings set --name "$AZURE_FUNCTION_APP_NAME" \
  --resource-group "$AZURE_RESOURCE_GROUP" --settings "OPENVPN_IMAGE=$IMAGE" --output none
