"""The carer's day over HTTP: a provider's carers' days with travel and the pay check, a
council's anonymised aggregates per provider, CSV exports, and providers' declared pay rates."""
