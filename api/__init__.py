"""The HTTP API: read models over the registry and the evidence store (see `api.app`)."""
