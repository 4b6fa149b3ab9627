"""Ingest: MQTT consumers that verify device events and store them as evidence.

A message is acknowledged to the broker only after the transaction holding it (as evidence or
in quarantine) has committed, so a crash at any point means redelivery, never loss; the event
store's unique key makes redelivery harmless.
"""
