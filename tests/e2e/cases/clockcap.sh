# SPDX-License-Identifier: MIT
# clockcap.sh - updates stamped far ahead wait for their time in memory, at
# most 1024 of them and 8 MiB: a hostile peer sends 140 of 64 KiB stamped an
# hour ahead; A keeps what fits waiting, drops the rest (the one due last
# giving way), counts them in updates_waiting_clock_dropped and
# updates_dropped, and says so once in its log, not once per update.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 1)
make_netkey
start_node a -o "listen=127.0.0.1:$P,network_key=$NETKEY"
A=$T/a
"$MKUPDATE" newkey "$T/k" >/dev/null
mk() { "$MKUPDATE" make --key "$T/k" "$@"; }
mk --op model-create --clock now --entity model --model Late --out "$T/m.upd" >/dev/null
o=$(mk --op object-create --clock now --entity self --model Late --name l --out "$T/o.upd")
check_ok "the model and object reach A" hostile_send $P "$T/m.upd" "$T/o.upd"
check_ok "A shows the object" wait_for 10 test -d "$A/Late/l"

head -c $((64 << 10)) /dev/urandom > "$T/v"
files=()
for i in $(seq 1 140); do
  mk --op set --clock now+3600000 --entity self --model Late --name "f$i" \
    --value-file "$T/v" --prev "$o" --out "$T/u$i.upd" >/dev/null
  files+=("$T/u$i.upd")
done
d0=$(stat_of a updates_dropped)
check_ok "140 updates stamped an hour ahead reach A" hostile_send $P "${files[@]}"
all_seen() {
  [ $(($(stat_of a updates_waiting_clock) + $(stat_of a updates_waiting_clock_dropped))) -ge 140 ]
}
check_ok "A has taken all 140" wait_for 15 all_seen
waiting=$(stat_of a updates_waiting_clock)
dropped=$(stat_of a updates_waiting_clock_dropped)
echo "# waiting $waiting, dropped $dropped"
check_ok "what waits fits in 8 MiB ($waiting of 64 KiB)" test "$waiting" -le 128
check_eq "every one waits or was dropped" $((waiting + dropped)) 140
check_ok "the drops count in updates_dropped" \
  test $(($(stat_of a updates_dropped) - d0)) -ge "$dropped"
check_eq "A says so once, not once per update" \
  "$(grep -c "stamped ahead dropped" "$A/.node/log")" 1
check_ok "nothing of them shows" test ! -e "$A/Late/l/f1"
stop_node a
finish
