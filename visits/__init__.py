"""Visits: planned schedules, actual visits built from evidence, anomalies, live alerts,
corrections and KPIs (docs/visits.md)."""
