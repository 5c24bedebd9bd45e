// aks-vpn-gateways: the Function app (Flex Consumption), its storage (Durable Functions task hub), Key Vault
// (RBAC, soft delete, purge protection), monitoring and the gateway image's container registry, all reached
// with one user-assigned managed identity and no keys. The AKS cluster already exists; the identity gets the
// Azure roles it needs on it, and the cluster's kubelet identity gets AcrPull on the registry.
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

@description('OpenVPN gateway image by digest. Set by the postprovision hook (scripts/azd/build-image.sh) after it builds infra/image in the registry; empty on the very first provision, when the hook sets the app setting itself.')
param openvpnImage string = ''

@description('An existing Azure Container Registry for the gateway image; empty: one is created in the app\'s resource group.')
param containerRegistryName string = ''

@description('Resource group of the existing registry; empty: the AKS cluster\'s resource group.')
param containerRegistryResourceGroup string = ''

@description('Enforce Entra app roles (Gateways.Admin, Clients.Issue, Reader) from App Service Authentication. On by default: a client profile holds a private key, and a function key alone names no one.')
param authRolesEnabled string = 'true'

@description('Client id of the API\'s Entra app registration (with the app roles). Required while roles are on: App Service Authentication is configured with it; without it the app refuses to start.')
param authClientId string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var createRegistry = empty(containerRegistryName)
var registryName = createRegistry ? '${abbrs.containerRegistryRegistries}${resourceToken}' : containerRegistryName
var registryResourceGroup = createRegistry
  ? rg.name
  : (empty(containerRegistryResourceGroup) ? aksResourceGroup : containerRegistryResourceGroup)

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
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    authClientId: toLower(authRolesEnabled) == 'true' ? authClientId : ''
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

module registry 'app/registry.bicep' = if (createRegistry) {
  name: 'registry'
  scope: rg
  params: {
    name: registryName
    location: location
    tags: tags
  }
}

module acrPull 'app/acr-pull.bicep' = {
  name: 'acr-pull'
  scope: resourceGroup(registryResourceGroup)
  dependsOn: [registry]
  params: {
    registryName: registryName
    kubeletPrincipalId: aksRbac.outputs.kubeletPrincipalId
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output API_BASE_URL string = 'https://${api.outputs.defaultHostName}/api'
output KEY_VAULT_URL string = vault.outputs.uri
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
// The object id the ClusterRole binding names (scripts/cluster-access.sh).
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_CONTAINER_REGISTRY_NAME string = registryName
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = acrPull.outputs.loginServer
