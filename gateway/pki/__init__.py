"""The gateway's certificate authority and device identities at the broker (docs/identity.md).

Modules are imported directly (gateway.pki.authority, .devices, ...): ingest and the simulator
need only the small `identity` module, not the database or broker-admin code.
"""
