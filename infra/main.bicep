// Entry point azd provisions (`azd up` / `azd provision`): one resource group
// holding the assistant's function app on Flex Consumption, its storage,
// Azure OpenAI, monitoring, the user-assigned identity everything runs as, the
// role assignments that identity (and the deploying user) needs, and, when
// chosen, the Durable Task Scheduler backend. No keys or secrets anywhere.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds unique resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources (must offer Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user or service principal; azd fills in AZURE_PRINCIPAL_ID. Empty skips the user role assignments.')
param principalId string = ''

@description('Kind of principal principalId is: User for a person, ServicePrincipal in CI.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Resource group name; empty means rg-<environmentName>.')
param resourceGroupName string = ''

@description('Durable Functions backend: the storage account (default) or the Durable Task Scheduler.')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string = 'AzureStorage'

@description('Durable Task Scheduler SKU, when that backend is chosen.')
@allowed([
  'Consumption'
  'Dedicated'
])
param durableTaskSchedulerSku string = 'Consumption'

@description('Task hub name on the Durable Task Scheduler.')
param taskHubName string = 'assistant'

@description('Region of the Azure OpenAI account; empty means the same as location. Pick one that offers the model and SKU.')
param openAiLocation string = ''

@description('Chat model to deploy.')
param chatModelName string = 'gpt-5-mini'

@description('Version of the chat model.')
param chatModelVersion string = '2025-08-07'

@description('Deployment SKU of the chat model.')
@allowed([
  'GlobalStandard'
  'DataZoneStandard'
  'Standard'
])
param chatModelSkuName string = 'GlobalStandard'

@description('Capacity of the chat deployment, in thousands of tokens per minute.')
@minValue(1)
param chatModelCapacity int = 10

@description('Name of the chat deployment (CHAT_MODEL_DEPLOYMENT_NAME); empty means the model name, which lets the app recognise reasoning models (gpt-5*, o*) by name.')
param chatDeploymentName string = ''

@description('Azure OpenAI API version the app sends (AZURE_OPENAI_API_VERSION).')
param openAiApiVersion string = '2025-04-01-preview'

@description('Python version of the function app.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@description('Most instances the Flex Consumption plan scales out to.')
@minValue(40) // Flex Consumption: "The lowest maximum scale is currently 40"
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per Flex Consumption instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most HTTP invocations one instance runs at once (Flex Consumption perInstanceConcurrency; its default for Python apps is 1, so each open turn stream would hold a whole instance). 50 fits the 2,048 MB instance (1 vCPU): measured with `python -m bench stream_memory`, see docs/deploy.md "HTTP concurrency".')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 50

@description('Share of traces kept, 0 to 1 (OTEL_TRACES_SAMPLER_ARG of the microsoft.fixed_percentage sampler the Functions host and the Python worker both read). Text, as Bicep has no decimals.')
param traceSamplingRatio string = '1.0'

var useDts = durableBackend == 'DurableTaskScheduler'
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module openAi 'core/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${resourceToken}'
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    deploymentName: empty(chatDeploymentName) ? chatModelName : chatDeploymentName
    modelName: chatModelName
    modelVersion: chatModelVersion
    skuName: chatModelSkuName
    capacity: chatModelCapacity
  }
}

module dts 'core/dts.bicep' = if (useDts) {
  name: 'dts'
  scope: rg
  params: {
    name: 'dts-${resourceToken}'
    location: location
    tags: tags
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    pythonVersion: pythonVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    traceSamplingRatio: traceSamplingRatio
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    openAiEndpoint: openAi.outputs.endpoint
    chatDeploymentName: openAi.outputs.deploymentName
    openAiApiVersion: openAiApiVersion
    durableBackend: durableBackend
    schedulerEndpoint: useDts ? dts.outputs.endpoint : ''
    taskHubName: useDts ? dts.outputs.taskHubName : ''
  }
}

// The app's identity: everything the running app touches.
module appRoles 'app/rbac.bicep' = {
  name: 'app-roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    storageAccountName: storage.outputs.name
    openAiAccountName: openAi.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    schedulerName: useDts ? dts.outputs.name : ''
  }
}

// The deploying user: the same data access, to run and debug locally against Azure.
module userRoles 'app/rbac.bicep' = if (!empty(principalId)) {
  name: 'user-roles'
  scope: rg
  params: {
    principalId: principalId
    principalType: principalType
    storageAccountName: storage.outputs.name
    openAiAccountName: openAi.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    schedulerName: useDts ? dts.outputs.name : ''
  }
}

// azd writes these to .azure/<env>/.env (see `azd env get-values`).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output API_BASE_URL string = '${api.outputs.uri}/api'
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_API_VERSION string = openAiApiVersion
output CHAT_MODEL_DEPLOYMENT_NAME string = openAi.outputs.deploymentName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_ENDPOINT string = useDts ? dts.outputs.endpoint : ''
output TASKHUB_NAME string = useDts ? dts.outputs.taskHubName : ''
