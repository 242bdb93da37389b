// The function app: a Flex Consumption (FC1) Linux plan, the Python app that
// runs as the user-assigned identity and is deployed from a blob container
// through that identity, and the app settings the code reads. The settings are
// the contract with the code (see /work/shared/DESIGN.md "Settings"); the
// infra tests compare them with what the Python reads.

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('azd service name from azure.yaml; azd finds the app by this tag.')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Storage account backing AzureWebJobsStorage and holding the deployment container.')
param storageAccountName string

@description('Blob container the app package is deployed from.')
param deploymentContainerName string

@description('Python version of the Functions worker.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string

@description('Upper bound of instances the plan scales out to.')
@minValue(40) // Flex Consumption: "The lowest maximum scale is currently 40"
@maxValue(1000)
param maximumInstanceCount int

@description('Memory per instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Most HTTP invocations one instance runs at once (functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency).')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Share of traces kept, 0 to 1 (OTEL_TRACES_SAMPLER_ARG).')
param traceSamplingRatio string

@description('Application Insights connection string (routing only; auth is Entra ID).')
param applicationInsightsConnectionString string

@description('Azure OpenAI endpoint, e.g. https://<name>.openai.azure.com/')
param openAiEndpoint string

@description('Chat model deployment name.')
param chatDeploymentName string

@description('Azure OpenAI REST API version the openai client sends.')
param openAiApiVersion string

@description('Durable Functions backend.')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string

@description('Durable Task Scheduler endpoint; only used with the DurableTaskScheduler backend.')
param schedulerEndpoint string = ''

@description('Task hub name; only used with the DurableTaskScheduler backend (host.json names the Azure Storage hub).')
param taskHubName string = ''

var useDts = durableBackend == 'DurableTaskScheduler'
var storageSuffix = environment().suffixes.storage
var blobServiceUri = 'https://${storageAccountName}.blob.${storageSuffix}'
var queueServiceUri = 'https://${storageAccountName}.queue.${storageSuffix}'
var tableServiceUri = 'https://${storageAccountName}.table.${storageSuffix}'

// The Python worker's pool for sync functions (here the Durable ones: model calls, orchestrator episodes,
// entity batches; the HTTP functions are async and run on its event loop). Never fewer threads than the HTTP
// invocations an instance may run at once, and at least 32: the worker's own ceiling for its default
// (min(32, cores + 4)), above what the Durable extension runs at once per instance, so an orchestrator
// episode never waits for a thread behind model calls. docs/deploy.md "HTTP concurrency".
var syncThreadCount = max(httpPerInstanceConcurrency, 32)

// Settings for every backend. FUNCTIONS_WORKER_RUNTIME and the Python version
// are not app settings on Flex Consumption: functionAppConfig.runtime holds them.
var baseSettings = {
  AzureWebJobsStorage__blobServiceUri: blobServiceUri
  AzureWebJobsStorage__queueServiceUri: queueServiceUri
  AzureWebJobsStorage__tableServiceUri: tableServiceUri
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AZURE_CLIENT_ID: identityClientId
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  AZURE_OPENAI_API_VERSION: openAiApiVersion
  CHAT_MODEL_DEPLOYMENT_NAME: chatDeploymentName
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // HTTP streams (azurefunctions-extensions-http-fastapi, for the turn's event stream) need the worker's init indexing.
  PYTHON_ENABLE_INIT_INDEXING: '1'
  PYTHON_THREADPOOL_THREAD_COUNT: string(syncThreadCount)
  // Telemetry the platform's way (host.json "telemetryMode": "OpenTelemetry"): the Python worker configures the
  // Azure Monitor distro (azure-monitor-opentelemetry, in requirements.txt) and makes each invocation's trace
  // context current, so the host's request span and the app's spans are one trace; the app then adds no
  // exporter (assistant/telemetry.py). Not PYTHON_ENABLE_OPENTELEMETRY: alone it leaves the worker's
  // propagator unset (azure-functions-python-worker dispatcher.py), failing every invocation.
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  // Sampling: host.json's samplingSettings are ignored in OpenTelemetry mode. Fixed percentage hashes the trace
  // id the same way in the host and the worker, so a trace is kept or dropped whole.
  OTEL_TRACES_SAMPLER: 'microsoft.fixed_percentage'
  OTEL_TRACES_SAMPLER_ARG: traceSamplingRatio
  // Only the app's own spans: the distro's auto-instrumentations would add a span per storage poll (requests,
  // urllib3, azure_sdk), per model HTTP call (httpx) and a second request span (fastapi, the worker's proxy).
  OTEL_PYTHON_DISABLED_INSTRUMENTATIONS: 'azure_sdk,django,fastapi,flask,httpx,httpx2,psycopg2,requests,urllib,urllib3'
}

// The Durable Task Scheduler switch. The deployed host.json names the provider itself (azd's prepackage
// hook, infra/hooks/host_json.py: the scale controller reads host.json from disk, not app settings);
// these settings give it the connection and the task hub's name (%TASKHUB_NAME% in host.json).
var dtsSettings = useDts ? {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  TASKHUB_NAME: taskHubName
} : {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      // No ftpsState: Flex Consumption has no FTP and rejects the property (ARM error 51021).
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobServiceUri}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(baseSettings, dtsSettings)
}

// No publishing passwords: deployments go through Entra ID (azd uses the blob container).
resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output uri string = 'https://${functionApp.properties.defaultHostName}'
