# SPDX-License-Identifier: MIT
# revoke.sh - a revocation is final (THREATS finding 8), on three nodes.
# A owns Person/bob and lists Person/r, an object whose key only the
# hostile peer holds; r writes bob/name while listed. The peer records A's
# log, A revokes r, and r signs X: bob/name = evil, stamped after the
# revocation, built on the grant. X then reaches each node in another order:
# - A: the revocation first (A made it), then X from the peer;
# - B: the revocation over its link to A, then X from the peer and from A;
# - C: a fresh node fed A's recorded log and X by the peer, so it applies X,
#   and only then linked to A, which sends the revocation.
# Every node ends showing r's write from before the revocation, never X,
# and lists X in bob/.history as held, with the reason.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 3)
make_netkey
start_node a -o listen=127.0.0.1:$P,network_key=$NETKEY
start_node b -o listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY
A=$T/a B=$T/b C=$T/c
check_ok "A and B are linked" wait_for 10 links_up a 1

# mk NAME ARGS...: a record signed by r's key, in $T/NAME.upd; prints its hash
mk() {
  local n=$1
  shift
  "$MKUPDATE" make --key "$T/r.key" "$@" --out "$T/$n.upd"
}
# history_of NODE HASH: the node's bob/.history line of the update HASH
history_of() { awk -v h="$2" '$2 == h' "$T/$1/Person/bob/.history"; }
# held_as NODE HASH WORD: the line is held, its reason beginning with WORD
held_as() { history_of "$1" "$2" | awk -v w="$3:" '$7 == "held" && $8 == w { ok = 1 } END { exit !ok }'; }

# A's object, and r, an object of the hostile peer's key.
mkdir -p "$A/Person/bob"
echo Bob > "$A/Person/bob/name"
R=$("$MKUPDATE" newkey "$T/r.key")
mk r --op object-create --clock now --entity self --model Person --name r > /dev/null
check_ok "the peer sends r to A" hostile_send $P "$T/r.upd"
check_ok "A has r" wait_for 10 test -d "$A/Person/r"
check_eq "r is the peer's key" "$(cat "$A/Person/r/.owner")" "$R"

# A lists r; r writes while listed, built on the grant.
echo Person/r > "$A/Person/bob/.authorized"
GRANT=$(awk '$5 == "meta" && $6 == "authorized" { h = $2 } END { print h }' "$A/Person/bob/.history")
check_ok "the grant is in bob's history" test -n "$GRANT"
W=$(mk early --op set --clock now --entity "$(cat "$A/Person/bob/.owner")" --model Person \
  --name name --value $'granted\n' --prev "$GRANT")
check_ok "the peer sends r's write to A" hostile_send $P "$T/early.upd"
for n in a b; do
  check_ok "$n takes r's write while r is listed" \
    wait_for 10 file_is "$T/$n/Person/bob/name" $'granted\n'
done

# The peer records A's log, then A revokes r.
check_ok "the peer records A's log" test "$(hostile_fetch $P "$T/log")" -ge 5
: > "$A/Person/bob/.authorized"
check_ok "B has the revocation" wait_for 10 file_is "$B/Person/bob/.authorized" ""
sleep 0.1

# X: stamped after the revocation, built on the grant, as if r never heard of it.
X=$(mk evil --op set --clock now+1000 --entity "$(cat "$A/Person/bob/.owner")" \
  --model Person --name name --value $'evil\n' --prev "$GRANT")
check_ok "the peer sends X to A" hostile_send $P "$T/evil.upd"
check_ok "the peer sends X to B" hostile_send $((P + 1)) "$T/evil.upd"
check_ok "A lists X as held" wait_for 10 held_as a "$X" unauthorized
check_ok "B lists X as held" wait_for 10 held_as b "$X" unauthorized

# C, fresh: A's log from before the revocation, then X. C applies X, as a
# node that never saw the revocation must.
start_node c -o listen=127.0.0.1:$((P + 2)),network_key=$NETKEY
check_ok "the peer replays A's log to C" hostile_send $((P + 2)) "$T"/log/*.upd
check_ok "the peer sends X to C" hostile_send $((P + 2)) "$T/evil.upd"
check_ok "C, without the revocation, applies X" wait_for 10 file_is "$C/Person/bob/name" $'evil\n'
check_eq "C lists X as applied" "$(history_of c "$X" | awk '{ print NF, $5, $6 }')" "6 set name"

# C meets A: the revocation comes after X, and undoes it.
stop_node c
start_node c -o listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$P,network_key=$NETKEY
check_ok "C gets the revocation" wait_for 10 file_is "$C/Person/bob/.authorized" ""
check_ok "C undoes X" wait_for 10 file_is "$C/Person/bob/name" $'granted\n'
check_ok "C lists X as held, revoked" held_as c "$X" revoked
check_ok "C logs the re-judgement" grep -q "re-judged updates stamped after it: 1 undone" \
  "$C/.node/log"

for n in a b c; do
  check_file "$n shows r's write from before the revocation" "$T/$n/Person/bob/name" \
    $'granted\n'
  check_ok "$n lists r's early write as applied" \
    bash -c "[ \"\$(awk -v h=$W '\$2 == h { print NF }' '$T/$n/Person/bob/.history')\" = 6 ]"
  check_eq "$n lists X once" "$(history_of $n "$X" | wc -l)" 1
  check_ok "$n says why X is held" \
    bash -c "awk -v h=$X '\$2 == h' '$T/$n/Person/bob/.history' |
      grep -qE ' held (unauthorized|revoked): signer not in \.authorized at its clock'"
  check_eq "$n shows X nowhere" "$(grep -rl evil "$T/$n" | wc -l)" 0
done
check_ok "every node shows the same tree" wait_for 10 same_trees "$A" "$B" "$C"
check_same_trees "A, B and C" "$A" "$B" "$C"

# The owner writes on; every node follows.
echo final > "$A/Person/bob/name"
for n in b c; do
  check_ok "$n takes the owner's write" wait_for 10 file_is "$T/$n/Person/bob/name" $'final\n'
done
finish
