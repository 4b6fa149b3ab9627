"""Visits: check-ins paired with their check-outs, derived from the evidence on every read."""
