// AcrPull for the AKS kubelet identity on the gateway image's registry (new or existing), deployed at the
// registry's resource group scope.
param registryName string
param kubeletPrincipalId string

// Ids of Azure built-in roles, keyed by their exact names (checked against infra/built-in-roles.json).
var roles = {
  AcrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, kubeletPrincipalId, roles.AcrPull)
  scope: registry
  properties: {
    principalId: kubeletPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.AcrPull)
  }
}

output loginServer string = registry.properties.loginServer
