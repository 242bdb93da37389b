// The Azure OpenAI account and the chat model deployment the assistant calls.
// Key auth is disabled: callers use Entra ID tokens (Cognitive Services OpenAI
// User role), so a custom subdomain is required.

@description('Name of the Azure OpenAI account; also its custom subdomain.')
param name string

@description('Azure region of the account; must offer the chosen model and SKU.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Name of the model deployment (what CHAT_MODEL_DEPLOYMENT_NAME holds).')
param deploymentName string

@description('OpenAI model name, e.g. gpt-5-mini.')
param modelName string

@description('Model version, e.g. 2025-08-07.')
param modelVersion string

@description('Deployment SKU, e.g. GlobalStandard or Standard.')
param skuName string

@description('Capacity in thousands of tokens per minute.')
@minValue(1)
param capacity int

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource chatDeployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
}

output name string = account.name
output id string = account.id

@description('e.g. https://<name>.openai.azure.com/')
output endpoint string = account.properties.endpoint

output deploymentName string = chatDeployment.name
