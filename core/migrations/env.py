"""Alembic environment: migrations run on the URL that `ecm migrate` hands in, else settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from core.settings import get_settings, to_sqlalchemy_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or to_sqlalchemy_url(get_settings().database_url)
engine = create_engine(url, connect_args={"application_name": "core.migrate"})

with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
