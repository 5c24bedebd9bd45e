// aks-vpn-gateways: the Function app (Flex Consumption, Node 20), its storage (Durable Functions task hub),
// Key Vault (RBAC, soft delete, purge protection) and monitoring, all reached with one user-assigned
// managed identity and no keys. The AKS cluster already exists; the identity gets the roles it needs on it.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to name resources.')
param environmentName string

@minLength(1)
@description('Region of the Function app and its dependencies.')
param location string

@description('Resource group of the existing AKS cluster the gateways are created on.')
param aksResourceGroup string

@description('Name of the existing AKS cluster.')
param aksClusterName string

@description('OpenVPN gateway container image (built from infra/image/Dockerfile).')
param openvpnImage string = 'ghcr.io/aks-vpn-gateways/openvpn:2.6'

@description('Enforce Entra app roles (Gateways.Admin, Clients.Issue, Reader) from App Service Authentication.')
param authRolesEnabled string = 'false'

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    appInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
  }
}

module vault 'app/key-vault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: '${abbrs.webSitesFunctions}api-${resourceToken}'
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: {
      KUBE_TARGET: 'aks'
      AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
      AKS_RESOURCE_GROUP: aksResourceGroup
      AKS_CLUSTER_NAME: aksClusterName
      SECRET_STORE: 'keyvault'
      KEY_VAULT_URL: vault.outputs.uri
      OPENVPN_IMAGE: openvpnImage
      AUTH_ROLES_ENABLED: authRolesEnabled
      DURABLE_TASK_HUB: 'vpngateways'
      CRL_TIMER_SCHEDULE: '0 0 3 * * *'
    }
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: vault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module aksRbac 'app/aks-rbac.bicep' = {
  name: 'aks-rbac'
  scope: resourceGroup(aksResourceGroup)
  params: {
    principalId: identity.outputs.principalId
    aksClusterName: aksClusterName
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output API_BASE_URL string = 'https://${api.outputs.defaultHostName}/api'
output KEY_VAULT_URL string = vault.outputs.uri
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
