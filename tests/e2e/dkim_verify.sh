#!/bin/bash
# Runs a DKIM verifier (python3-dkim's dkimverify, opendkim-testmsg, opendkim-testkey)
# against key records served by a dnsmasq of its own. Those tools ask only the system's
# resolver, on port 53: so they run in a private network and mount namespace, where
# dnsmasq answers on 127.0.0.1:53 and /etc/resolv.conf names it. Nothing leaves the
# namespace's loopback.
#
# usage: dkim_verify.sh RECORDS MESSAGE COMMAND [ARGS...]
#   RECORDS: one TXT record a line, "<name><TAB><text>" (the text is cut into 255-octet
#   strings); MESSAGE: the verifier's standard input. Exits with the verifier's status.
#   An argument @OPENDKIM_CONF@ becomes an opendkim.conf whose ResolverConfiguration sends
#   libunbound (which opendkim-testkey resolves with) to the same dnsmasq.
set -euo pipefail

if [ -z "${SMARTHOST_DKIM_NAMESPACE:-}" ]; then
    flags=(--mount --net)
    [ "$(id -u)" = 0 ] || flags+=(--map-root-user)
    exec env SMARTHOST_DKIM_NAMESPACE=1 unshare "${flags[@]}" bash "$0" "$@"
fi

records=$1 message=$2
shift 2
work=$(mktemp -d)
trap '[ -f "$work/pid" ] && kill "$(cat "$work/pid")" 2>/dev/null; rm -rf "$work"' EXIT

while IFS=$'\t' read -r name text; do
    [ -n "$name" ] || continue
    line="txt-record=$name"
    while [ -n "$text" ]; do
        line+=",\"${text:0:255}\""
        text=${text:255}
    done
    printf '%s\n' "$line" >>"$work/dnsmasq.conf"
done <"$records"

ip link set lo up
dnsmasq --conf-file="$work/dnsmasq.conf" --no-resolv --no-hosts --port=53 \
    --listen-address=127.0.0.1 --bind-interfaces --user=root --pid-file="$work/pid" \
    --log-facility="$work/dnsmasq.log"
printf 'nameserver 127.0.0.1\n' >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
cat >"$work/unbound.conf" <<UNBOUND
server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@53
UNBOUND
printf 'ResolverConfiguration %s\n' "$work/unbound.conf" >"$work/opendkim.conf"
command=()
for argument in "$@"; do
    [ "$argument" = @OPENDKIM_CONF@ ] && argument=$work/opendkim.conf
    command+=("$argument")
done
status=0
"${command[@]}" <"$message" || status=$?
exit "$status"
