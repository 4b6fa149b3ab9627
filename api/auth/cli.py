"""`ecm users add|list|disable`: manage the people who sign in to the API and portal."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from api.auth.roles import Role
from core.settings import get_settings


@click.group("users")
def users() -> None:
    """People who sign in: administrators, council officers, provider managers."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--council", "council_id", default=None, help="The council of a council officer.")
@click.option("--provider", "provider_id", default=None, help="The provider of a manager.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of prompting for it.",
)
def add(
    username: str, role: str, council_id: str | None, provider_id: str | None, password_stdin: bool
) -> None:
    """Create an account (the password is hashed with argon2id, never stored)."""
    from api.auth.accounts import AccountError, add_account
    from core.db import make_engine

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine(get_settings(), "users", pool_size=1)
    try:
        with engine.begin() as conn:
            account = add_account(
                conn,
                username,
                password,
                Role(role),
                council_id=council_id,
                provider_id=provider_id,
            )
    except (AccountError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"added {account.username} ({account.role.value})")


@users.command("list")
def list_() -> None:
    """Print every account with its role, tenant and state."""
    from api.auth.accounts import list_accounts
    from core.db import make_engine

    engine = make_engine(get_settings(), "users", pool_size=1)
    try:
        with engine.connect() as conn:
            accounts = list_accounts(conn)
    finally:
        engine.dispose()
    table = Table("user", "role", "council", "provider", "state", "created")
    for account in accounts:
        table.add_row(
            account.username,
            account.role.value,
            account.council_id or "",
            account.provider_id or "",
            "active" if account.active else "disabled",
            account.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@users.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Stop an account signing in; its tokens stop working at once."""
    from api.auth.accounts import AccountError, disable_account
    from core.db import make_engine

    engine = make_engine(get_settings(), "users", pool_size=1)
    try:
        with engine.begin() as conn:
            account = disable_account(conn, username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"disabled {account.username}")


@users.command("reset-password")
@click.argument("username")
def reset_password(username: str) -> None:
    """Force a password reset: the password and every token stop working now; prints a one-time
    code with which the owner sets a new password (POST /auth/password-reset)."""
    from datetime import UTC, datetime

    from api.audit import chain
    from api.auth.accounts import AccountError, force_password_reset
    from core.db import make_engine

    settings = get_settings()
    engine = make_engine(settings, "users", pool_size=1)
    try:
        with engine.begin() as conn:
            reset = force_password_reset(
                conn, username, datetime.now(UTC), settings.password_reset_ttl_s
            )
            chain.append_system(
                conn, actor=chain.cli_actor(), method="RESET", path=f"/users/{username}/password"
            )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"{reset.username}: password and tokens ended; reset code (valid until ", nl=False)
    click.echo(f"{reset.expires_at:%Y-%m-%d %H:%M} UTC, shown once):")
    click.echo(reset.reset_code)
