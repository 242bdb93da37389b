// The storage account behind the Functions host (AzureWebJobsStorage: blobs,
// queues and tables for leases, the Durable Functions Azure Storage backend and
// the skills' tables) and the blob container Flex Consumption deploys from.
// Shared-key access is off: only Entra ID (managed identity, signed-in user) works.

@description('Name of the storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Blob container the Flex Consumption app package is uploaded to.')
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobServices
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output id string = storage.id

@description('e.g. https://<name>.blob.core.windows.net/')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('e.g. https://<name>.queue.core.windows.net/')
output queueEndpoint string = storage.properties.primaryEndpoints.queue

@description('e.g. https://<name>.table.core.windows.net/')
output tableEndpoint string = storage.properties.primaryEndpoints.table

output deploymentContainerName string = deploymentContainer.name
