"""Offline checks of the azd deployment (azure.yaml, infra/*.bicep, main.parameters.json)."""
