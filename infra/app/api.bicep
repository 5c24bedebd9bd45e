// The Function app on Flex Consumption, Node 22, running as the user-assigned identity.
param name string
param planName string
param location string
@description('Tags of the plan and the site.')
param tags object = {}
@description('The azd service this site hosts: tagged on the site only (azd before 1.24 refuses a tag on more than one resource).')
param serviceName string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param appInsightsConnectionString string
@description('Application settings of aks-vpn-gateways (see the README configuration table).')
param appSettings object
@description('Client id of the API\'s Entra app registration: App Service Authentication is configured with it; empty: no Authentication.')
param authClientId string = ''

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource api 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: 'https://${storageAccountName}.blob.${environment().suffixes.storage}/${deploymentContainerName}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'node', version: '22' }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: api
  name: 'appsettings'
  properties: union(appSettings, {
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    AZURE_CLIENT_ID: identityClientId
  })
}

// App Service Authentication in front of every route but healthz and enroll: Entra ID tokens for the API's app
// registration only, 401 for anyone without one. It validates the caller's token and forwards the principal
// as x-ms-client-principal (stripping any the caller sent), which the app's role checks read; the app
// refuses to start with roles on unless the platform reports Authentication enabled (WEBSITE_AUTH_ENABLED).
resource authentication 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(authClientId)) {
  parent: api
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // The anonymous routes of the API table: the liveness probe, and POST /api/enroll, whose credential is
      // the one-time enrollment token a branch holds instead of an Entra token.
      excludedPaths: ['/api/healthz', '/api/enroll']
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: ['api://${authClientId}', authClientId]
        }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

output name string = api.name
output defaultHostName string = api.properties.defaultHostName
