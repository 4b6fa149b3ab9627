"""Data governance: how long each kind of record is kept (per council), what the retention run
removes or pseudonymises when that time is up, and one person's data exported or erased on
request (subject access and erasure). See docs/retention.md."""
