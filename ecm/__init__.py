"""ECM platform core: settings, database access, migrations, local services and the `ecm` CLI."""
