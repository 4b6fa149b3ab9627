"""Liveness with a database round trip, for load balancers and `ecm` smoke checks."""
