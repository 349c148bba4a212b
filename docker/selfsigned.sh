#!/bin/sh
# selfsigned.sh CERT KEY NAME [OTHER]: make a self-signed certificate for NAME (and OTHER,
# localhost, 127.0.0.1) at CERT/KEY unless CERT already exists. It lets a deployment be tried over TLS at
# once; for real use, mount the certificate of your domain at CERT and KEY instead.
set -eu
cert=$1 key=$2 name=${3:-localhost} other=${4:-}
[ -s "$cert" ] && exit 0
umask 022  # folders traversable: brokers drop root before reading certificates
mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$name" \
  -addext "subjectAltName=DNS:$name,${other:+DNS:$other,}DNS:localhost,IP:127.0.0.1" \
  -keyout "$key" -out "$cert" >/dev/null 2>&1 \
  || { echo "selfsigned.sh: openssl could not write $cert and $key" >&2; exit 1; }
chmod 644 "$cert"
echo "selfsigned.sh: no certificate at $cert, made a self-signed one for $name (try-out only)" >&2
