"""HTTP for commissioning: lots, service requests, offers, packages (docs/service-requests.md)."""
