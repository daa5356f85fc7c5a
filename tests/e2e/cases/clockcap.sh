# SPDX-License-Identifier: MIT
# clockcap.sh - updates stamped far ahead wait for their time in memory, at
# most 1024 of them and -o clock_wait= bytes (4 MiB here), one peer's half
# of that: a hostile peer sends 140 of 64 KiB stamped an hour ahead, and A
# keeps what fits its share (2 MiB) waiting; four more peers (node keys of
# their own) do the same, and A keeps what fits 4 MiB, the one due last
# giving way. A counts
# the rest in updates_waiting_clock_dropped and updates_dropped, and says
# so once in its log, not once per update.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 1)
make_netkey
start_node a -o "listen=127.0.0.1:$P,network_key=$NETKEY,clock_wait=4M"
A=$T/a
"$MKUPDATE" newkey "$T/k" >/dev/null
mk() { "$MKUPDATE" make --key "$T/k" "$@"; }
mk --op model-create --clock now --entity model --model Late --out "$T/m.upd" >/dev/null
o=$(mk --op object-create --clock now --entity self --model Late --name l --out "$T/o.upd")
check_ok "the model and object reach A" hostile_send $P "$T/m.upd" "$T/o.upd"
check_ok "A shows the object" wait_for 10 test -d "$A/Late/l"

head -c $((64 << 10)) /dev/urandom > "$T/v"
# round R: 140 updates stamped an hour ahead, sent by a peer of its own
round() {
  local files=() i
  for i in $(seq 1 140); do
    mk --op set --clock now+3600000 --entity self --model Late --name "f$1.$i" \
      --value-file "$T/v" --prev "$o" --out "$T/u$i.upd" >/dev/null
    files+=("$T/u$i.upd")
  done
  hostile_send $P "${files[@]}"
}
seen() {
  [ $(($(stat_of a updates_waiting_clock) + $(stat_of a updates_waiting_clock_dropped))) -ge "$1" ]
}
d0=$(stat_of a updates_dropped)
check_ok "140 updates stamped an hour ahead reach A" round 1
check_ok "A has taken all 140" wait_for 15 seen 140
waiting=$(stat_of a updates_waiting_clock)
echo "# one peer: waiting $waiting"
check_ok "one peer's fit in its 2 MiB ($waiting of 64 KiB)" test "$waiting" -le 32
check_ok "and some wait ($waiting)" test "$waiting" -ge 16
for r in 2 3 4 5; do
  check_ok "round $r reaches A, from a peer of its own" round $r
done
check_ok "A has taken all 700" wait_for 30 seen 700
waiting=$(stat_of a updates_waiting_clock)
dropped=$(stat_of a updates_waiting_clock_dropped)
echo "# five peers: waiting $waiting, dropped $dropped"
check_ok "what waits fits in 4 MiB ($waiting of 64 KiB)" test "$waiting" -le 64
check_ok "more than one peer's share waits ($waiting)" test "$waiting" -gt 32
check_eq "every one waits or was dropped" $((waiting + dropped)) 700
check_ok "the drops count in updates_dropped" \
  test $(($(stat_of a updates_dropped) - d0)) -ge "$dropped"
check_eq "A says so once, not once per update" \
  "$(grep -c "stamped ahead dropped" "$A/.node/log")" 1
check_ok "nothing of them shows" test ! -e "$A/Late/l/f1.1"
stop_node a
finish
