// Roles of the API identity on the existing AKS cluster: read the cluster (CIDRs, location), list user
// credentials, and act in Kubernetes through Azure RBAC (namespaces, ConfigMaps, Secrets, Services,
// Deployments). Deployed at the cluster's resource group scope.
param principalId string
param aksClusterName string

var roles = {
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
  aksClusterUser: '4abbcc35-e782-43d8-92c5-2d3473bc4c01'
  aksRbacClusterAdmin: 'b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b'
}

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = {
  name: aksClusterName
}

resource clusterRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.reader, roles.aksClusterUser, roles.aksRbacClusterAdmin]: {
    name: guid(cluster.id, principalId, role)
    scope: cluster
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]
