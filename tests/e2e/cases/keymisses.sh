# SPDX-License-Identifier: MIT
# keymisses.sh - a peer naming keys this node does not hold cannot grow its
# memory of them. With a listener on A (so that A asks its keyring whether
# it owns each object a remote update names), a hostile peer sends 5,000
# updates, each naming a new random object. A remembers at most 4,096
# misses, forgets them when full (counted in keys_missing_forgotten and
# logged), and goes on: the honest peer's update and a local write arrive.
. "$(dirname "$0")/../lib.sh"
need_hostile
make_netkey

P=$(port_base 2)
start_node a -o "listen=127.0.0.1:$P,network_key=$NETKEY"
start_node b -o "listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY"
A=$T/a
B=$T/b
check_ok "B's link to A is up" wait_for 10 links_up b 1
printf '#!/bin/sh\nexit 0\n' > "$A/.actions/on_update" && chmod 755 "$A/.actions/on_update" ||
  fail "install the listener"
mkdir -p "$A/Person/ann" "$B/Person/bob" || fail "mkdir"
check_ok "A has bob" wait_for 10 test -d "$A/Person/bob"

K=$T/k.key
"$MKUPDATE" newkey "$K" >/dev/null
mkdir "$T/h"
"$MKUPDATE" make --key "$K" --op set --clock now --entity random --model Person --name x \
  --value v --count 5000 --out "$T/h/u" >/dev/null || fail "make the updates"
steps=()
for i in $(seq 1 5000); do
  [ $((i % 1000)) -eq 1 ] && steps+=(send)
  steps+=("$T/h/u.$i")
done
out=$(hostile_probe "$P" handshake "${steps[@]}" open 2>&1)
rc=$?
check_ok "H's messages were all read: $(tail -1 <<<"$out")" test "$rc" -eq 0

stat_at_least() { [ "$(stat_of "$1" "$2")" -ge "$3" ]; }
check_ok "A took them all in" wait_for 30 stat_at_least a updates_received 5000
cached=$(stat_of a keys_missing_cached)
echo "# misses remembered: $cached; forgotten: $(stat_of a keys_missing_forgotten) times"
check_ok "A remembers at most 4096 misses ($cached)" test "$cached" -le 4096
check_ok "and forgot them once full" stat_at_least a keys_missing_forgotten 1
check_ok "and logged it" grep -q "keys looked for and not held here" "$T/a.log"

echo from-b > "$B/Person/bob/note" || fail "write on B"
check_ok "B's update arrives on A" wait_for 10 file_is "$A/Person/bob/note" $'from-b\n'
check_ok "a local write on A goes on" timeout 10 sh -c "echo local > '$A/Person/ann/note'"
check_ok "and arrives on B" wait_for 10 file_is "$B/Person/ann/note" $'local\n'
finish
