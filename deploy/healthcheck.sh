#!/bin/bash
# Container HEALTHCHECK: GET /healthz on the address the server listens on
# (PPISSUER_LISTEN), over bash's /dev/tcp so the runtime image needs no curl.
# Exit 0 when the answer is 200, 1 otherwise (what Docker expects).
set -u

listen=${PPISSUER_LISTEN:-127.0.0.1:8080}
port=${listen##*:}
host=${listen%:*}
host=${host#\[}
host=${host%\]}
# A wildcard address is reached through loopback.
case $host in
'' | 0.0.0.0) host=127.0.0.1 ;;
:: | 0:0:0:0:0:0:0:0) host=::1 ;;
esac
case $port in
'' | *[!0-9]*) echo "healthcheck: cannot read a port from PPISSUER_LISTEN='$listen'" >&2; exit 1 ;;
esac

exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 4 status <&3 || exit 1
case $status in
"HTTP/1."[01]" 200"*) exit 0 ;;
esac
echo "healthcheck: /healthz answered: ${status%$'\r'}" >&2
exit 1
