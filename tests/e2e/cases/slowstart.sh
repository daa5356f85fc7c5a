# SPDX-License-Identifier: MIT
# slowstart.sh - a connection's window opens as its peer acknowledges (slow
# start). A's log holds 64 values of 64 KiB (4 MiB, within twice the
# default link_queue, which bounded a connection before). A hostile peer
# that asks for the whole log and never acknowledges gets its first 256 KiB
# and the message that passes them, nothing more, and A counts the full
# window; one that acknowledges as it takes the log in, as an honest peer
# does, gets all of it, over one connection, and so does a fresh node.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 2)
make_netkey
start_node a -o "listen=127.0.0.1:$P,network_key=$NETKEY"
A=$T/a
mkdir -p "$A/Big/o" || fail "mkdir"
for i in $(seq 1 64); do
  head -c $((64 << 10)) /dev/urandom > "$A/Big/o/f$i" || fail "write f$i"
done
head=$(stat_of a log_head)
stat_at_least() { [ "$(stat_of "$1" "$2")" -ge "$3" ]; }
echo "# A's log: $head entries"

# Never acknowledging: the first window only.
out=$(timeout 90 "$WSPROBE" --netkey "$NETKEY" --no-ack "$P" handshake fetch "$T/noack" 2>&1)
check_ok "the probe fetched without acknowledging: $(tr '\n' ' ' <<<"$out")" \
  grep -q "^fetch: [0-9]* updates saved" <<<"$out"
got=$(find "$T/noack" -name '*.upd' | wc -l)
bytes=$(du -cb "$T"/noack/*.upd | awk 'END { print $1 }')
echo "# without acknowledging: $got updates, $bytes bytes"
check_ok "it got some of A's log ($got updates)" test "$got" -gt 0
check_ok "and at most 256 KiB and two messages of it ($bytes bytes)" \
  test "$bytes" -le $(((256 + 2 * 256 + 64) << 10))
check_ok "not the whole log ($got of $head)" test "$got" -lt "$head"
check_ok "A counted the full window" wait_for 5 stat_at_least a links_window_full 1

# Acknowledging as it takes the log in: all of it, over one connection.
n=$(hostile_fetch "$P" "$T/ack")
check_eq "acknowledging, it got A's whole log" "$n" "$head"

# A fresh node catches up on all of it.
start_node b -o "listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY"
B=$T/b
check_ok "B has every value" wait_for 20 test -f "$B/Big/o/f64"
for i in 1 32 64; do
  check_eq "f$i on B is A's" "$(b2sum < "$B/Big/o/f$i")" "$(b2sum < "$A/Big/o/f$i")"
done
stop_node b
stop_node a
finish
