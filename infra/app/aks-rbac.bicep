// Azure roles of the API identity on the existing AKS cluster, and nothing more: read the cluster (CIDRs,
// location) and list the cluster-user kubeconfig. What the identity may do inside Kubernetes is the
// ClusterRole in infra/kube/cluster-role.yaml, bound to its object id by scripts/cluster-access.sh (see the
// README's operator's guide): no Azure RBAC data role, so no cluster-wide Kubernetes rights from Azure.
// Deployed at the cluster's resource group scope.
param principalId string
param aksClusterName string

// Ids of Azure built-in roles, keyed by their exact names (checked against infra/built-in-roles.json).
var roles = {
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
  'Azure Kubernetes Service Cluster User Role': '4abbcc35-e782-43d8-92c5-2d3f1bd2253f'
}

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = {
  name: aksClusterName
}

resource clusterRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.Reader, roles['Azure Kubernetes Service Cluster User Role']]: {
    name: guid(cluster.id, principalId, role)
    scope: cluster
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

// The kubelet pulls the gateway image: it is the identity that needs AcrPull on the registry.
output kubeletPrincipalId string = cluster.properties.identityProfile.kubeletidentity.objectId
