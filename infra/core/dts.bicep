// The Durable Task Scheduler and its task hub: the managed Durable Functions
// backend, deployed only when durableBackend = 'DurableTaskScheduler'. Access is
// Entra-only (Durable Task Data Contributor role, granted in rbac.bicep).

@description('Name of the scheduler (3-64 letters, digits and hyphens).')
@minLength(3)
@maxLength(64)
param name string

@description('Azure region of the scheduler.')
param location string

@description('Tags applied to the scheduler.')
param tags object = {}

@description('Task hub name; the app points host.json hubName at it through an app setting.')
param taskHubName string

@description('Scheduler billing SKU.')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

@description('Capacity units; only used by the Dedicated SKU.')
@minValue(1)
param dedicatedCapacity int = 1

@description('Networks allowed to reach the scheduler. An empty list denies all traffic.')
param ipAllowlist array = [
  '0.0.0.0/0'
]

var dedicated = skuName == 'Dedicated'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    ipAllowlist: ipAllowlist
    sku: dedicated ? {
      name: skuName
      capacity: dedicatedCapacity
    } : {
      name: skuName
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

output name string = scheduler.name
output id string = scheduler.id

@description('gRPC endpoint, e.g. https://<name>.<region>.durabletask.io')
output endpoint string = scheduler.properties.endpoint

output taskHubName string = taskHub.name
