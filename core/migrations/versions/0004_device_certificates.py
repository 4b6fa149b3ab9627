"""Device certificates: every X.509 client certificate the gateway CA issued to a handset.

The CA key and certificate live in the state folder; this table is the CA's memory across
processes: which serials were issued to which device, which are revoked (the CRL is rebuilt from
it), and when each expires. Re-issuing inserts a new row and revokes the old one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table device_certificate (
            -- X.509 serials are up to 20 octets: too big for bigint, so numeric.
            serial numeric(50, 0) primary key,
            device_id text not null references device(id),
            fingerprint_sha256 text not null unique,
            issued_at timestamptz not null default now(),
            not_after timestamptz not null,
            revoked_at timestamptz,
            reason text,
            check ((revoked_at is null) = (reason is null))
        );
        create index device_certificate_device_idx on device_certificate(device_id, issued_at);
        -- At most one live certificate per device: re-issue revokes the old one in the same
        -- transaction, so a stolen old certificate and the new one are never both valid.
        create unique index device_certificate_one_live_idx
            on device_certificate(device_id) where revoked_at is null;
        """
    )


def downgrade() -> None:
    op.execute("drop table device_certificate")
