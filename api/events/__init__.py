"""Read side of the evidence store: stored device events and quarantined messages."""
