"""Reconciliation as a service: councils' contracts and invoices, runs of the reconciliation
engine on the store's visits and schedules, and what each run decided (docs/reconciliation.md)."""
