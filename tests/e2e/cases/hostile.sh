# SPDX-License-Identifier: MIT
# hostile.sh - the hostile peer's tools against real nodes: a key made up
# by mkupdate creates a model and an object and sets a field, sent by
# wsprobe; the value shows in the mount; wsprobe fetches node A's whole log
# and sends it to a fresh node B, which then shows the same tree; a record
# with one byte flipped is refused on both, and the same record unflipped
# is taken.
. "$(dirname "$0")/../lib.sh"
need_hostile
command -v b2sum >/dev/null || skip "no b2sum"

P=$(port_base 2)
make_netkey
start_node a -o listen=127.0.0.1:$P,network_key=$NETKEY
A=$T/a B=$T/b

# mk NAME ARGS...: mkupdate make ARGS --out $T/NAME.upd, signed by the made-up key
mk() {
  local n=$1
  shift
  "$MKUPDATE" make --key "$T/evil.key" "$@" --out "$T/$n.upd"
}

# The tools themselves.
pk=$("$MKUPDATE" newkey "$T/evil.key")
check_ok "newkey prints a public key" grep -qxE '[0-9a-f]{64}' <<<"$pk"
check_eq "pub prints the same key" "$("$MKUPDATE" pub "$T/evil.key")" "$pk"
check_eq "the key file is private" "$(stat -c %a "$T/evil.key")" 600
check_fails "newkey never overwrites" "File exists" "$MKUPDATE" newkey "$T/evil.key"
"$MKUPDATE" make --key "$T/evil.key" --op frob --clock now --entity self --model M \
  --out "$T/x.upd" 2>/dev/null
check_eq "an unknown op is a usage error" $? 2
"$MKUPDATE" make --key "$T/evil.key" --op set --clock soon --entity self --model M \
  --name f --out "$T/x.upd" 2>/dev/null
check_eq "a bad clock is a usage error" $? 2
"$MKUPDATE" make --key "$T/evil.key" --op set --clock now --entity self --model M \
  --out "$T/x.upd" 2>/dev/null
check_eq "a set without a name is a usage error" $? 2

# A local change on A first, so that its log holds more than what we send.
mkdir -p "$A/Local/x" && echo local > "$A/Local/x/f"

# The made-up key creates a model and an object and sets a field.
hm=$(mk model --op model-create --clock now --entity model --model Hostile)
ho=$(mk object --op object-create --clock now+1 --entity self --model Hostile --name made)
hs=$(mk set --op set --clock now+2 --entity self --model Hostile --name title \
  --value "hostile value" --prev "$ho")
check_eq "make prints the record's hash" "$(upd_hash "$T/set.upd")" "$hs"
check_ok "send to A" hostile_send $P "$T/model.upd" "$T/object.upd" "$T/set.upd"
check_ok "the value shows on A" wait_for 10 file_is "$A/Hostile/made/title" "hostile value"
check_eq "the object is the made-up key's" "$(cat "$A/Hostile/made/.owner")" "$pk"

# fetch A's log, replay it to a fresh node B that has no link to A.
n=$(hostile_fetch $P "$T/log")
check_eq "fetch saved A's whole log" "$n" "$(stat_of a updates_stored)"
check_ok "fetch numbers the files from 1" test -s "$T/log/000001.upd"
fetched=$(for f in "$T"/log/*.upd; do upd_hash "$f"; done | tr '\n' ' ')
check_ok "fetch saved our records, in log order" \
  grep -qE "$hm .*$ho .*$hs " <<<"$fetched"
start_node b -o listen=127.0.0.1:$((P + 1)),network_key=$NETKEY
check_ok "send A's log to B" hostile_send $((P + 1)) "$T"/log/*.upd
check_ok "the object shows on B" wait_for 10 file_is "$B/Hostile/made/title" "hostile value"
check_ok "B shows what A shows" wait_for 10 same_trees "$A" "$B"
check_same_trees "A and B after the replay" "$A" "$B"
check_eq "B stored every update" "$(stat_of b updates_stored)" "$n"

# Key files go both ways: a key from A's state directory signs for A's
# object through mkupdate, and the made-up key, put in B's, lets B write.
ka=$(cat "$A/Local/x/.owner")
head=$(awk '$5 == "set" && $6 == "f" { print $2 }' "$A/Local/x/.history")
"$MKUPDATE" make --key "$T/a.state/keys/$ka.key" --op set --clock now --entity self \
  --model Local --name g --value "signed with A's key" --prev "$head" --out "$T/a-key.upd" \
  >/dev/null
check_ok "send A's own key's update to B" hostile_send $((P + 1)) "$T/a-key.upd"
check_ok "B shows it" wait_for 10 file_is "$B/Local/x/g" "signed with A's key"
cp "$T/evil.key" "$T/b.state/keys/$pk.key"
check_ok "B writes as the made-up key once it holds it" \
  wait_for 5 bash -c "echo by-b > '$B/Hostile/made/byb'"
check_file "B's write" "$B/Hostile/made/byb" $'by-b\n'
check_eq "B signed it with the made-up key" \
  "$(awk '$6 == "byb" { print $4 }' "$B/Hostile/made/.history")" "$pk"

# One byte flipped (the value's last, under the signature): refused on both
# nodes. A valid update sent after it in the same message shows that the
# nodes got there; the same record unflipped is then taken.
hf=$(mk forged --op set --clock now+3 --entity self --model Hostile --name title \
  --value "forged value" --prev "$hs")
mk note --op set --clock now+3 --entity self --model Hostile --name note --value after \
  --prev "$hs" >/dev/null
cp "$T/forged.upd" "$T/flipped.upd"
flip_byte "$T/flipped.upd" -65
check_ok "the flip changed the record" bash -c "! cmp -s '$T/forged.upd' '$T/flipped.upd'"
for node in a b; do
  port=$P
  [ $node == a ] || port=$((P + 1))
  refused=$(stat_of $node updates_refused)
  stored=$(stat_of $node updates_stored)
  check_ok "send the flipped record, then a valid one, to $node" \
    hostile_send $port "$T/flipped.upd" "$T/note.upd"
  check_ok "$node took the valid one" wait_for 10 file_is "$T/$node/Hostile/made/note" after
  check_file "$node refused the flipped one" "$T/$node/Hostile/made/title" "hostile value"
  check_ok "$node counts it refused" test "$(stat_of $node updates_refused)" -gt "$refused"
  check_eq "$node stored only the valid one" "$(stat_of $node updates_stored)" \
    $((stored + 1))
  check_ok "send the record unflipped to $node" hostile_send $port "$T/forged.upd"
  check_ok "$node took it" wait_for 10 file_is "$T/$node/Hostile/made/title" "forged value"
done
check_eq "the forged record's hash" "$(upd_hash "$T/forged.upd")" "$hf"

finish
