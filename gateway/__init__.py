"""Gateway: device identity, the wire protocol, and the broker's configuration."""
