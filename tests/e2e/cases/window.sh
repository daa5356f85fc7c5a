# SPDX-License-Identifier: MIT
# window.sh - a link's window of bytes in flight moves on what the peer has
# taken in, not only on what it stored. B (max_skew 60 s) applies an update
# stamped 30 s ahead, and so stamps what it writes next as late; A
# (max_skew 1 s) keeps all of it waiting for its time. B writes 3 MiB, six
# times its window (link_queue=256K): every update reaches A's waiting room
# long before the time comes, so nothing stalls behind the first one. A
# says it stored none of them meanwhile: B's `acked` for A stays put and
# `dinemicfs wait` on B reports A lagging. Once the time comes A applies
# them all, says so, and the wait returns, with no reconnect.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 2)
make_netkey
A=$T/a B=$T/b
start_node a -o "listen=127.0.0.1:$P,network_key=$NETKEY,max_skew=1s"
start_node b -o "listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY,link_queue=256K"
check_ok "A and B linked" wait_for 15 links_up b 1
"$MKUPDATE" newkey "$T/evil.key" >/dev/null

# mk NAME ARGS...: mkupdate make ARGS --out $T/NAME.upd, signed by the made-up key
mk() {
  local n=$1
  shift
  "$MKUPDATE" make --key "$T/evil.key" "$@" --out "$T/$n.upd"
}
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
waiting_on_a() { echo $(($(stat_of a updates_waiting_clock) + $(stat_of a updates_waiting))); }
stat_cmp_ge() { [ "$(stat_of "$1" "$2")" -ge "$3" ]; }
b_behind_none() { [ "$(peer_field b "" behind)" = 0 ]; }
a_waits() { [ "$(waiting_on_a)" -ge "$1" ]; }
a_idle() { [ "$(waiting_on_a)" -eq 0 ]; }

mk late-model --op model-create --clock now --entity model --model Late >/dev/null
lo=$(mk late-object --op object-create --clock now --entity self --model Late --name l)
mk late --op set --clock now+30000 --entity self --model Late --name title --value late \
  --prev "$lo" >/dev/null
late_ms=$(($(now_ms) + 30000))
check_ok "B takes the update 30 s ahead" hostile_send $((P + 1)) \
  "$T/late-model.upd" "$T/late-object.upd" "$T/late.upd"
check_ok "B applies it (max_skew 60 s)" wait_for 10 file_is "$B/Late/l/title" late
check_ok "A keeps it waiting for its time" wait_for 10 stat_cmp_ge a updates_waiting_clock 1
acked0=$(peer_field b "" acked)

# 48 fields of 64 KiB on B, each stamped after the late update
mkdir -p "$B/Bulk/o"
for i in $(seq 1 48); do
  head -c $((64 << 10)) /dev/urandom > "$T/v$i"
  cp "$T/v$i" "$B/Bulk/o/f$i" || fail "cp f$i to B"
done
head_b=$(stat_of b log_head)
check_ok "B sent A all of it while the first waits" wait_for 15 b_behind_none
check_ok "A holds all 51 waiting, none applied" wait_for 10 a_waits 51
echo "# waiting on A: $(waiting_on_a); B's log head $head_b"
check_ok "none of B's fields shows on A" test ! -e "$A/Bulk/o/f48"
check_ok "the time has not come yet" test "$(now_ms)" -lt $((late_ms - 1000))
check_eq "B's acked for A has not moved" "$(peer_field b "" acked)" "$acked0"
check_fails "dinemicfs wait on B: A lags" "lagging" "$DINEMICFS" wait "$B" --timeout 1

check_ok "A applies them once the time comes" wait_for 45 file_is "$A/Late/l/title" late
check_ok "and every field B wrote" wait_for 15 test -e "$A/Bulk/o/f48"
for i in 1 24 48; do
  check_eq "f$i on A is B's" "$(b2sum < "$A/Bulk/o/f$i")" "$(b2sum < "$B/Bulk/o/f$i")"
done
check_ok "nothing waits on A any more" wait_for 10 a_idle
check_ok "dinemicfs wait on B returns, on the same link" "$DINEMICFS" wait "$B" --timeout 10
check_eq "B's acked for A: its whole log" "$(peer_field b "" acked)" "$(stat_of b log_head)"
check_eq "no reconnect was needed" "$(grep -c "link to wss://127.0.0.1:$P .* down" "$T/b.log")" 0
stop_node b
stop_node a
finish
