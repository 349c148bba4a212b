#!/bin/sh
# Writes the broker's config, password file and ACL from the environment, makes a self-signed
# certificate when none is mounted, then runs the command (mosquitto by default).
#
# Accounts: `bridge` and `app` (passwords TWIN_MQTT_BRIDGE_PASSWORD, TWIN_MQTT_APP_PASSWORD)
# and one per device, its user name being its device id: TWIN_MQTT_DEVICES holds `id:password`
# entries separated by commas or new lines. Passwords are hashed by `mosquitto_passwd -U` from a
# private file, never passed on a command line.
#
# Topics (the ACL): a device publishes only under twin/{its id}/... and reads its commands on
# cmd/{its id}/...; the bridge reads every twin/... and publishes normalised state on
# twin/live/... (the id `live` is reserved, so no device can write there); the app reads and
# writes twin/live/... and publishes commands on cmd/....
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${TWIN_MQTT_CONF_DIR:=/mosquitto/config}"   # mosquitto.conf, passwd and acl go here
: "${TWIN_MQTT_PLAIN_BIND:=0.0.0.0}"           # plain listener: the compose network only
: "${TWIN_MQTT_DATA_DIR:=$TWIN_MQTT_CONF_DIR/data}"  # the persistence file (a volume in compose)
: "${TWIN_MQTT_PLAIN_PORT:=1883}"
: "${TWIN_MQTT_TLS_PORT:=8883}"
: "${TWIN_MQTT_TLS_CERT:=/mosquitto/certs/tls.crt}"
: "${TWIN_MQTT_TLS_KEY:=/mosquitto/certs/tls.key}"
: "${TWIN_SERVER_NAME:=localhost}"
: "${TWIN_MQTT_DEVICES:=}"

fail() { echo "entrypoint: $*" >&2; exit 2; }
[ -n "${TWIN_MQTT_BRIDGE_PASSWORD:-}" ] || fail "set TWIN_MQTT_BRIDGE_PASSWORD (the bridge's password)"
[ -n "${TWIN_MQTT_APP_PASSWORD:-}" ] || fail "set TWIN_MQTT_APP_PASSWORD (the app's password)"

conf=$TWIN_MQTT_CONF_DIR
mkdir -p "$conf"
umask 077
plain=$conf/passwd.plain
{
  printf 'bridge:%s\napp:%s\n' "$TWIN_MQTT_BRIDGE_PASSWORD" "$TWIN_MQTT_APP_PASSWORD"
  printf '%s\n' "$TWIN_MQTT_DEVICES" | tr ',' '\n' | while IFS= read -r entry; do
    entry=$(printf '%s' "$entry" | tr -d ' \t\r')
    [ -n "$entry" ] || continue
    id=${entry%%:*}
    case $entry in *:?*) ;; *) fail "TWIN_MQTT_DEVICES: '$id' has no password: write id:password" ;; esac
    case $id in
      bridge | app | live) fail "TWIN_MQTT_DEVICES: '$id' is reserved for the twin's own account or topics" ;;
      '' | *[!A-Za-z0-9_.-]*) fail "TWIN_MQTT_DEVICES: device id '$id' may use only letters, digits, '.', '_' and '-'" ;;
    esac
    printf '%s\n' "$entry"
  done
} >"$plain"
mosquitto_passwd -U "$plain"
mv "$plain" "$conf/passwd"

cat >"$conf/acl" <<'ACL'
# the bridge reads every device's readings and publishes the normalised state (and the
# alerts its rules open) on twin/live/... after each commit
user bridge
topic read twin/#
topic write state/#
topic write twin/live/#

# the app publishes what its own ingest routes store, every worker reads all of twin/live/...
# for its WebSocket clients, and it sends commands to devices
user app
topic read state/#
topic readwrite twin/live/#
topic write cmd/#

# every device (user name = device id) writes only its own readings and reads its commands
pattern write twin/%u/#
pattern read cmd/%u/#
ACL

selfsigned=$here/selfsigned.sh                          # beside it in the image
[ -f "$selfsigned" ] || selfsigned=$here/../selfsigned.sh  # one folder up in the repository
# `mqtt` too: the compose bridge reaches the broker by its service name over TLS
sh "$selfsigned" "$TWIN_MQTT_TLS_CERT" "$TWIN_MQTT_TLS_KEY" "$TWIN_SERVER_NAME" mqtt

mkdir -p "$TWIN_MQTT_DATA_DIR"
cat >"$conf/mosquitto.conf" <<CONF
# written by entrypoint.sh at start: edit the script, not this file
per_listener_settings false
allow_anonymous false
password_file $conf/passwd
acl_file $conf/acl
# QoS 1 messages the bridge has not acknowledged yet survive a broker restart, and a bridge
# outage queues rather than drops (the bridge acknowledges only after its batch is committed)
persistence true
persistence_location $TWIN_MQTT_DATA_DIR/
autosave_interval 60
max_inflight_messages 2000
max_queued_messages 1000000
max_queued_bytes 0
log_dest stderr

listener $TWIN_MQTT_PLAIN_PORT $TWIN_MQTT_PLAIN_BIND

listener $TWIN_MQTT_TLS_PORT
certfile $TWIN_MQTT_TLS_CERT
keyfile $TWIN_MQTT_TLS_KEY
tls_version tlsv1.2
CONF

# mosquitto drops root for its own user: let that user read what it needs
if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
  chown mosquitto "$conf/passwd" "$conf/acl" "$TWIN_MQTT_DATA_DIR"
  chown mosquitto "$TWIN_MQTT_TLS_KEY" 2>/dev/null \
    || echo "entrypoint: could not hand $TWIN_MQTT_TLS_KEY to user mosquitto: it must be able to read it" >&2
fi
[ $# -gt 0 ] || set -- mosquitto -c "$conf/mosquitto.conf"
exec "$@"
