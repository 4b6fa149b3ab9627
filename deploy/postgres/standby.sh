#!/bin/sh
# The cluster profile's standby: a base backup of pg-primary the first time, then PostgreSQL
# streaming from it through the slot, named ecm_standby (the primary waits for that name). The
# base backup copies the primary's synchronous_standby_names; the empty one on the command line
# keeps a promoted standby from waiting for a standby of its own.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup -h pg-primary -U ecm -D "$PGDATA" -X stream -S ecm_standby_slot; do
        echo "standby: primary not ready for a base backup; retrying" >&2
        sleep 2
    done
    touch "$PGDATA/standby.signal"
    chmod 700 "$PGDATA"
fi
exec docker-entrypoint.sh postgres \
    -c "primary_conninfo=host=pg-primary user=ecm password=$POSTGRES_PASSWORD application_name=ecm_standby" \
    -c primary_slot_name=ecm_standby_slot \
    -c hot_standby=on \
    -c synchronous_standby_names=
