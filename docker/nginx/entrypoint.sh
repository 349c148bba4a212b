#!/bin/sh
# Renders twin.conf.template with the TWIN_* settings below (envsubst of those names only, so
# nginx's own $variables are kept), makes a self-signed certificate when none is mounted, then
# runs the command (nginx in the foreground by default).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${TWIN_NGINX_TEMPLATE:=$here/twin.conf.template}"   # the template to render
: "${TWIN_NGINX_CONF:=/etc/nginx/conf.d/default.conf}"  # where the rendered server blocks go
: "${TWIN_UPSTREAM:=app:8000}"          # the app workers (compose scales them behind one name)
: "${TWIN_HTTP_LISTEN:=80}"             # plain HTTP, redirects only
: "${TWIN_HTTPS_LISTEN:=443}"           # TLS, inside the container
: "${TWIN_HTTPS_PORT:=443}"             # the public HTTPS port (what links and redirects carry)
: "${TWIN_SERVER_NAME:=localhost}"      # name in the self-signed certificate
: "${TWIN_TLS_CERT:=/etc/nginx/tls/tls.crt}"
: "${TWIN_TLS_KEY:=/etc/nginx/tls/tls.key}"
: "${TWIN_NGINX_CACHE:=/var/cache/nginx/twin-tiles}"
# where /ws/ connections are logged (the image's access log goes to stdout), path only: a
# token sent as ?token= never reaches a log line
: "${TWIN_NGINX_ACCESS_LOG:=/var/log/nginx/access.log}"
export TWIN_UPSTREAM TWIN_HTTP_LISTEN TWIN_HTTPS_LISTEN TWIN_HTTPS_PORT TWIN_TLS_CERT \
  TWIN_TLS_KEY TWIN_NGINX_CACHE TWIN_NGINX_ACCESS_LOG

case $TWIN_HTTPS_PORT in
  *[!0-9]* | '') echo "entrypoint: TWIN_HTTPS_PORT must be a port number, got '$TWIN_HTTPS_PORT'" >&2
    exit 2 ;;
esac
selfsigned=$here/selfsigned.sh                          # beside it in the image
[ -f "$selfsigned" ] || selfsigned=$here/../selfsigned.sh  # one folder up in the repository
sh "$selfsigned" "$TWIN_TLS_CERT" "$TWIN_TLS_KEY" "$TWIN_SERVER_NAME"
mkdir -p "$(dirname "$TWIN_NGINX_CONF")"
envsubst '${TWIN_UPSTREAM} ${TWIN_HTTP_LISTEN} ${TWIN_HTTPS_LISTEN} ${TWIN_HTTPS_PORT}
  ${TWIN_TLS_CERT} ${TWIN_TLS_KEY} ${TWIN_NGINX_CACHE} ${TWIN_NGINX_ACCESS_LOG}' \
  <"$TWIN_NGINX_TEMPLATE" >"$TWIN_NGINX_CONF"
[ $# -gt 0 ] || set -- nginx -g 'daemon off;'
exec "$@"
