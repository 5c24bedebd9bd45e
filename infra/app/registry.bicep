// The container registry the gateway image is built into (`az acr build`, run by the azd postprovision
// hook): created only when no existing registry is given. No admin user: the cluster pulls with its kubelet
// identity (AcrPull), the deploying user builds with their own Entra identity.
param name string
param location string
param tags object = {}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Basic' }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

output name string = registry.name
