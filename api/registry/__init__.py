"""Registry over HTTP. The records, rules and SQL are gateway.registry's; this package adds
the HTTP surface, access checks and error mapping."""
