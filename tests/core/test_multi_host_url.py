"""A primary and its standby in one database URL: libpq's form for psycopg, SQLAlchemy's for the
API's engine, both keeping target_session_attrs (docs/scaling.md, "Database failover")."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from core.settings import Settings, to_sqlalchemy_url

URL = "postgresql://ecm@10.0.0.1:5432,10.0.0.2:5433/ecm?target_session_attrs=read-write"


def test_a_multi_host_url_becomes_one_host_parameter_per_server() -> None:
    url = make_url(to_sqlalchemy_url(URL))
    assert url.drivername == "postgresql+psycopg"
    assert url.database == "ecm" and url.username == "ecm"
    assert url.query["host"] == ("10.0.0.1:5432", "10.0.0.2:5433")
    assert url.query["target_session_attrs"] == "read-write"


def test_the_api_role_keeps_both_servers() -> None:
    url = make_url(Settings(database_url=URL).api_sqlalchemy_url)
    assert url.username == "ecm_api"
    assert url.query["host"] == ("10.0.0.1:5432", "10.0.0.2:5433")


def test_a_single_host_url_is_unchanged_but_for_the_driver() -> None:
    assert to_sqlalchemy_url("postgresql://ecm:pw@db:5432/ecm") == (
        "postgresql+psycopg://ecm:pw@db:5432/ecm"
    )
