"""Data governance over HTTP: councils' retention policies, subject access exports and erasure
requests (the rules are in the retention package; docs/retention.md)."""
