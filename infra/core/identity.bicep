// The user-assigned managed identity the function app runs as. Every data-plane
// call the app makes (storage, Azure OpenAI, Application Insights, the Durable
// Task Scheduler) authenticates with this identity; no keys are issued anywhere.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id, used to attach the identity to the function app.')
output id string = identity.id

@description('Client (application) id: what AZURE_CLIENT_ID and the *__clientId settings carry.')
output clientId string = identity.properties.clientId

@description('Object (principal) id: what role assignments grant to.')
output principalId string = identity.properties.principalId

output name string = identity.name
