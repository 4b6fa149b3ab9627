"""Commissioning: a council's lots and the service requests it offers down each lot's cascade
(lead provider, additional providers, DPS), the providers' answers, and the care packages
accepted requests become, planned as schedule versions (docs/service-requests.md)."""
