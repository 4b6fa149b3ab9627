#!/bin/sh
# First start of the cluster profile's primary (docker-entrypoint-initdb.d): let the standby
# replicate over the network with the same password, keep WAL for it in a slot, and make every
# commit wait for it. The last is ALTER SYSTEM (read at the restart after initialisation), not a
# command-line setting: on the command line it would hold this first start's own commits.
set -eu
echo "host replication ecm all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 -U ecm -d ecm \
    -c "select pg_create_physical_replication_slot('ecm_standby_slot', true)" \
    -c "alter system set synchronous_standby_names = 'ecm_standby'"
