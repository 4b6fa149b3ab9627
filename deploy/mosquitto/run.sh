#!/bin/sh
# The compose broker: Mosquitto plus a watcher that makes it re-read its CRL (SIGHUP) whenever
# crl.pem changes. Revocations are written by ecm (the api or `ecm devices`) in another
# container, which cannot signal this process itself. Mosquitto 2.0.11 re-reads crlfile on HUP.
set -eu
CRL=/state/pki/crl.pem
mosquitto -c /mosquitto/config/mosquitto.conf &
broker=$!
trap 'kill -TERM "$broker"; wait "$broker"; exit 0' TERM INT
last=$(cksum < "$CRL")
while kill -0 "$broker" 2>/dev/null; do
    sleep 2
    now=$(cksum < "$CRL")
    if [ "$now" != "$last" ]; then
        kill -HUP "$broker"
        last=$now
    fi
done
wait "$broker"
