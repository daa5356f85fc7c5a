# SPDX-License-Identifier: MIT
# held.sh - what a peer can make a node hold (THREATS findings 6 and 7), on
# three nodes with max_value=1M and a quota of held updates of 4 MiB per
# signer: B and C link to A; the hostile peer sends to A, one update at a
# time, and A relays to B and C. Held updates are counted: every one held
# is kept or dropped (updates_held = held_updates + held_dropped).
# - Finding 6: a made-up key makes a model and an object and appends 1 MiB
#   40 times to field f; then sets g 2 MiB at a time, ten times, and
#   appends to g and to f with clock 1. Every node shows f at 1 MiB (the
#   first append), g with only the old append, lists the rest held
#   ("limit:", saying why), keeps the held ones within the quota, dropping
#   the oldest, and peaks (VmHWM) under 100 MiB of RSS, where the recipe
#   took a node to 438 MiB.
# - Finding 7: another made-up key floods 48 held updates of 1 MiB (sets on
#   objects that do not exist) while B's and A's own writers go on. On every
#   node held_bytes stays within the quotas, held_dropped counts what went,
#   the oldest went first, the store grows by less than the flood, and the
#   writers' updates reach every node. A dropped one sent again is new.
. "$(dirname "$0")/../lib.sh"
need_hostile

MIB=1048576
QUOTA=$((4 * MIB))
P=$(port_base 3)
make_netkey
OPTS=max_value=1M,held_per_signer=4M,held_max=64M,network_key=$NETKEY
start_node a -o listen=127.0.0.1:$P,$OPTS
start_node b -o listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,$OPTS
start_node c -o listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$P,$OPTS
A=$T/a
check_ok "A has B and C" wait_for 10 links_up a 2

# mk KEY NAME ARGS...: a record signed by $T/KEY.key, in $T/NAME.upd; prints its hash
mk() {
  local k=$1 n=$2
  shift 2
  "$MKUPDATE" make --key "$T/$k.key" "$@" --out "$T/$n.upd"
}
# hwm NODE: the node's peak resident set (VmHWM), in KiB
hwm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/${NODE_PID[$1]}/status"; }
# db_bytes NODE: the size of the node's store on disk
db_bytes() { du -sb "$T/$1.state/db" | cut -f1; }
# size_is FILE N: FILE holds N bytes
size_is() { [ "$(stat -c %s "$1" 2>/dev/null)" == "$2" ]; }
# says NODE TEXT: a line of the node's Junk/o/.history holds TEXT
says() { grep -qF -- "$2" "$T/$1/Junk/o/.history"; }
# stat_at_least NODE KEY N: the counter is N or more (for wait_for)
stat_at_least() { [ "$(stat_of "$1" "$2")" -ge "$3" ]; }
# accounted NODE: every update the node held is kept or was dropped
accounted() {
  [ "$(stat_of "$1" updates_held)" -eq \
    $(($(stat_of "$1" held_updates) + $(stat_of "$1" held_dropped))) ]
}
# send_all FILE...: the hostile peer sends each record to A, waiting until A
# logged it (held updates are logged too): the peer waits for each to be
# taken, so that what is measured is what a node keeps, not its inbox
send_all() {
  local f s
  for f in "$@"; do
    s=$(stat_of a updates_stored)
    hostile_send $P "$f" > "$T/send.out" 2>&1 || { cat "$T/send.out"; return 1; }
    wait_for 10 stat_at_least a updates_stored $((s + 1)) ||
      { echo "A did not log $f"; return 1; }
  done
}

for n in a b c; do
  check_eq "$n starts with nothing held" "$(stat_of $n held_bytes)" 0
done

# ---- finding 6: values past max_value, appends without end, old appends ------

"$MKUPDATE" newkey "$T/junk.key" > /dev/null
mk junk model --op model-create --clock now --entity model --model Junk > /dev/null
obj=$(mk junk object --op object-create --clock now+1 --entity self --model Junk --name o)
head -c $MIB /dev/zero > "$T/mib"
files=("$T/model.upd" "$T/object.upd")
for i in $(seq 1 40); do
  mk junk "ap$i" --op append --clock "now+$((10 + i))" --entity self --model Junk --name f \
    --value-file "$T/mib" --prev "$obj" > /dev/null
  files+=("$T/ap$i.upd")
done
check_ok "the peer sends 40 appends of 1 MiB to every node" send_all "${files[@]}"
for n in a b c; do
  check_ok "$n took them" wait_for 30 says $n "held limit: the value would be 2097152 bytes"
  check_ok "$n keeps f at max_value" wait_for 10 size_is "$T/$n/Junk/o/f" $MIB
  check_eq "$n shows the first append" "$(cmp "$T/$n/Junk/o/f" "$T/mib" 2>&1)" ""
done

head -c $((2 * MIB)) /dev/urandom > "$T/2mib"
files=()
for i in $(seq 1 10); do
  mk junk "set$i" --op set --clock "now+$((100 + i))" --entity self --model Junk --name g \
    --value-file "$T/2mib" --prev "$obj" > /dev/null
  files+=("$T/set$i.upd")
done
mk junk oldg --op append --clock 1 --entity self --model Junk --name g --value x \
  --prev "$obj" > /dev/null
mk junk oldf --op append --clock 1 --entity self --model Junk --name f --value y \
  --prev "$obj" > /dev/null
check_ok "the peer sends ten sets of 2 MiB, then appends with clock 1" \
  send_all "${files[@]}" "$T/oldg.upd" "$T/oldf.upd"
for n in a b c; do
  check_ok "$n has the old append to g" wait_for 30 file_is "$T/$n/Junk/o/g" x
  check_ok "$n never shows the sets" test "$(stat -c %s "$T/$n/Junk/o/g")" -eq 1
  check_ok "$n lists a set past max_value as held" \
    wait_for 10 says $n "set g held limit: a value of 2097152 bytes, over max_value (1048576 here)"
  check_ok "$n holds the old append to f: f merged with it would pass max_value" \
    wait_for 10 says $n "held limit: the value merged again with it would pass max_value"
  check_eq "$n still shows the first append in f" "$(cmp "$T/$n/Junk/o/f" "$T/mib" 2>&1)" ""
  check_ok "$n keeps what it holds within the quota" test "$(stat_of $n held_bytes)" -le $QUOTA
  # A got all 51 of the peer's held updates; B and C what A still had to relay.
  check_ok "$n dropped the oldest held updates" \
    test "$(stat_of $n held_dropped)" -ge "$([ $n == a ] && echo 46 || echo 1)"
  check_ok "$n counts every held update it did not keep as dropped" accounted $n
  check_ok "$n lists only what it keeps" test "$(grep -c ' held ' "$T/$n/Junk/o/.history")" -le 4
  check_ok "$n counts the updates held past max_value" \
    test "$(stat_of $n held_over_max_value)" -ge "$([ $n == a ] && echo 49 || echo 1)"
  lines=$(grep -c "held: its value passes max_value" "$T/$n/.node/log")
  check_ok "$n logs values past max_value, not one line per update ($lines)" \
    test "$lines" -ge 1 -a "$lines" -le 2
  kib=$(hwm $n)
  echo "$n peaked at $kib KiB of RSS after finding 6's recipe"
  sanitized_build ||
    check_ok "$n peaked at $kib KiB of RSS, under 100 MiB" test "$kib" -lt $((100 * 1024))
done

# ---- finding 7: a flood of held updates while others write ----------------------

"$MKUPDATE" newkey "$T/flood.key" > /dev/null
head -c $MIB /dev/urandom > "$T/random"	# as stored: no compression shrinks it
files=()
for i in $(seq 1 48); do
  mk flood "fl$i" --op set --clock "now+$i" --model Person --name x --value-file "$T/random" \
    --entity "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$T/fl$i.hash"
  files+=("$T/fl$i.upd")
done
declare -A before_db before_dropped
for n in a b c; do
  before_db[$n]=$(db_bytes $n)
  before_dropped[$n]=$(stat_of $n held_dropped)
done
mkdir -p "$A/Local/a" "$T/b/Local/b"
send_all "${files[@]}" > "$T/flood.out" 2>&1 &
flood=$!
track_pid $flood
for i in $(seq 1 20); do
  echo "a $i" >> "$A/Local/a/log" || fail "A's writer, line $i"
  echo "b $i" >> "$T/b/Local/b/log" || fail "B's writer, line $i"
done
wait $flood
check_eq "the peer sent the flood to every node" $? 0
want_a=$(seq 1 20 | sed 's/^/a /')
want_b=$(seq 1 20 | sed 's/^/b /')
for n in a b c; do
  check_ok "A's writer reached $n" wait_for 30 file_is "$T/$n/Local/a/log" "$want_a"$'\n'
  check_ok "B's writer reached $n" wait_for 30 file_is "$T/$n/Local/b/log" "$want_b"$'\n'
done
# A's log in order: once B and C have a write A made after the flood, they
# have every update of it that A relayed.
echo done > "$A/Local/a/done"
for n in a b c; do
  check_ok "$n has A's write after the flood" wait_for 30 file_is "$T/$n/Local/a/done" done$'\n'
done
for n in a b c; do
  check_ok "$n took the flood, dropping the oldest" \
    stat_at_least $n held_dropped $((${before_dropped[$n]} + $([ $n == a ] && echo 45 || echo 1)))
  check_ok "$n counts every held update it did not keep as dropped" accounted $n
  lines=$(grep -c "held updates past their quota" "$T/$n/.node/log")
  check_ok "$n logs drops, not one line per update ($lines)" test "$lines" -ge 1 -a "$lines" -le 3
  bytes=$(stat_of $n held_bytes)
  check_ok "$n holds $bytes bytes, within the quota of each of two signers" \
    test "$bytes" -le $((2 * QUOTA))
  grown=$(($(db_bytes $n) - ${before_db[$n]}))
  echo "$n's store grew by $grown bytes in the flood"
  check_ok "$n's store grew by $grown bytes, less than the 48 MiB flood" \
    test "$grown" -lt $((24 * MIB))
  kib=$(hwm $n)
  echo "$n peaked at $kib KiB of RSS after the flood"
  sanitized_build ||
    check_ok "$n peaked at $kib KiB of RSS, under 100 MiB" test "$kib" -lt $((100 * 1024))
done

# The oldest went first: A's log has the latest of the flood, not the first.
fetched=$(hostile_fetch $P "$T/alog")
check_ok "A's log can be fetched" test "$fetched" -gt 0
hashes=$(for f in "$T"/alog/*.upd; do upd_hash "$f"; done)
check_ok "A's log has the latest of the flood" grep -qx "$(cat "$T/fl48.hash")" <<<"$hashes"
check_ok "and no longer the first" bash -c "! grep -qx '$(cat "$T/fl1.hash")' <<<'$hashes'"

# A dropped update sent again is new again: stored and held once more.
stored=$(stat_of a updates_stored)
check_ok "the peer sends the first of the flood again" hostile_send $P "$T/fl1.upd"
check_ok "A keeps it again" wait_for 10 stat_at_least a updates_stored $((stored + 1))
finish
