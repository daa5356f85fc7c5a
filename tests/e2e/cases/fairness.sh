# SPDX-License-Identifier: MIT
# fairness.sh - one peer cannot hold up the others (THREATS finding 10), on
# three nodes and the hostile peer: a flood whose every update A's listener
# judges slowly does not keep B's write from A, which shows it after about
# one more judgement (counted, not timed: at most 3 begin meanwhile, the
# one under way, the next, and one for the time it takes to look); a peer that fills its share of the updates
# waiting for a predecessor (-o park_per_peer, 16M by default, 32M in all)
# has the rest dropped and counted; once it has left, another peer's object
# whose model comes after it makes room (the first peer's updates go, as it
# has no link left) and still appears everywhere; bad updates are counted each but
# not logged each; a dropped update keeps its link's place in the peer's
# log before it, so it is asked for again.
. "$(dirname "$0")/../lib.sh"
: "${WSPROBE:=$(dirname "$DINEMICFS")/../tests/e2e/wsprobe}"
: "${MKUPDATE:=$(dirname "$DINEMICFS")/../tests/e2e/mkupdate}"
[ -x "$WSPROBE" ] || skip "no wsprobe at $WSPROBE"
[ -x "$MKUPDATE" ] || skip "no mkupdate at $MKUPDATE"

P=$(port_base 3)
NETKEY=$T/netkey
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$NETKEY"
chmod 600 "$NETKEY"
A=$T/a B=$T/b C=$T/c
NODES3="a b c"

# node_opts NODE [EXTRA]: A listens; B peers A; C peers A and B
node_opts() {
  local extra=${2:+,$2}
  case $1 in
  a) echo "listen=127.0.0.1:$P,network_key=$NETKEY$extra" ;;
  b) echo "listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY$extra" ;;
  c) echo "listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$P,peer=wss://127.0.0.1:$((P + 1)),network_key=$NETKEY$extra" ;;
  esac
}
up() { start_node "$1" -o "$(node_opts "$1" "${2:-}")"; }
all_linked() { links_up a 2 && links_up b 2 && links_up c 2; }
# on_all WHAT CMD...: check_ok CMD on each node, with @N in its words replaced by the node's mount
on_all() {
  local what=$1 n
  shift
  for n in $NODES3; do
    check_ok "$what on $n" "${@//@N/$T/$n}"
  done
}
stat_cmp() { test "$(stat_of "$1" "$2")" "-$3" "$4"; }
rand_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
# mk KEY OUT ARGS...: one update signed by $T/KEY.key into $T/OUT.upd; prints its hash
mk() {
  local k=$1 o=$2
  shift 2
  "$MKUPDATE" make --key "$T/$k.key" "$@" --out "$T/$o.upd"
}
# judged: how many of the flood's updates A's listener was asked about
judged() { [ -f "$T/judged" ] && wc -l < "$T/judged" || echo 0; }

for n in $NODES3; do up $n; done
check_ok "three nodes linked" wait_for 15 all_linked

# 1. A flood judged slowly. A's listener takes 0.3 s over each update of
# the model Flood, and accepts the rest at once.
N=40
mkdir -p "$A/.actions/Flood"
cat > "$A/.actions/Flood/on_update" <<SH
#!/bin/sh
echo "\$DINEMIC_FIELD" >> '$T/judged'
sleep 0.3
SH
chmod +x "$A/.actions/Flood/on_update"
"$MKUPDATE" newkey "$T/flood.key" >/dev/null
mk flood f000 --op model-create --clock now --entity model --model Flood >/dev/null
h=$(mk flood f001 --op object-create --clock now --entity self --model Flood --name o)
files=("$T/f000.upd" "$T/f001.upd")
for i in $(seq 1 $N); do
  h=$(mk flood "f$((100 + i))" --op set --clock "now+$i" --entity self --model Flood \
    --name f --value "v$i" --prev "$h")
  files+=("$T/f$((100 + i)).upd")
done
# In one message: the applier used to take a message whole.
check_ok "the flood reaches A" hostile_send $P "${files[@]}"
check_ok "A's listener is judging the flood" wait_for 10 test -s "$T/judged"
mkdir -p "$B/Person/bob" && seen0=$(judged) && echo fast > "$B/Person/bob/name"
check_ok "B's write shows on A" wait_for 30 file_is "$A/Person/bob/name" $'fast\n'
seen=$(judged)
echo "B's write on A after $seen of the $N flood updates were judged ($seen0 when written)"
flood_now=$(cat "$A/Flood/o/f" 2>/dev/null)
check_ok "while the flood is still judged ($seen of $N asked)" test "$seen" -lt $N
check_ok "after about one judgement ($((seen - seen0)) begun meanwhile)" \
  test $((seen - seen0)) -le 3
check_ok "and its last update not applied yet (f is '$flood_now')" test "$flood_now" != "v$N"
on_all "B's write" wait_for 10 file_is @N/Person/bob/name $'fast\n'
on_all "the whole flood, in the end" wait_for 60 file_is @N/Flood/o/f "v$N"
check_eq "A's listener was asked once per update" "$(judged)" $N
check_ok "same trees" wait_for 10 same_trees "$A" "$B" "$C"

# 1b. The same with updates released from the park: 20 objects of a model
# that comes after them wait for it, then are judged slowly (once the model
# is there) as they go on; B's write shows on A meanwhile.
M=20
mkdir -p "$A/.actions/Flood2"
cat > "$A/.actions/Flood2/on_create" <<SH
#!/bin/sh
[ -d "\$DINEMIC_MOUNT/Flood2" ] || exit 0
echo "\$DINEMIC_OBJECT" >> '$T/judged2'
sleep 0.3
SH
chmod +x "$A/.actions/Flood2/on_create"
files=()
for i in $(seq 1 $M); do
  "$MKUPDATE" newkey "$T/f2-$i.key" >/dev/null
  mk "f2-$i" "f2-$i" --op object-create --clock now --entity self --model Flood2 --name "o$i" >/dev/null
  files+=("$T/f2-$i.upd")
done
"$MKUPDATE" newkey "$T/f2.key" >/dev/null
mk f2 f2-model --op model-create --clock now --entity model --model Flood2 >/dev/null
w0=$(stat_of a updates_waiting)
check_ok "the objects reach A" hostile_send $P "${files[@]}"
check_ok "they wait on A for their model" wait_for 10 stat_cmp a updates_waiting eq $((w0 + M))
check_ok "the model reaches A" hostile_send $P "$T/f2-model.upd"
judged2() { [ -f "$T/judged2" ] && wc -l < "$T/judged2" || echo 0; }
check_ok "A's listener is judging the objects" wait_for 10 test -s "$T/judged2"
seen0=$(judged2) && echo second > "$B/Person/bob/name"
check_ok "B's second write shows on A" wait_for 30 file_is "$A/Person/bob/name" $'second\n'
seen=$(judged2)
shown=$(ls "$A/Flood2" | wc -l)
echo "B's second write on A after $seen of the $M released objects were judged ($seen0 when written)"
check_ok "while the objects are still judged ($seen of $M asked)" test "$seen" -lt $M
check_ok "after about one judgement ($((seen - seen0)) begun meanwhile)" \
  test $((seen - seen0)) -le 3
check_ok "and not all shown ($shown of $M)" test "$shown" -lt $M
on_all "B's second write" wait_for 10 file_is @N/Person/bob/name $'second\n'
on_all "every object, in the end" wait_for 60 test -d "@N/Flood2/o$M" -a -d @N/Flood2/o1
for n in $NODES3; do
  check_eq "$n shows all $M" "$(ls "$T/$n/Flood2" | wc -l)" $M
done
check_eq "A's listener was asked once per object (once its model was there)" "$(judged2)" $M
check_ok "same trees" wait_for 10 same_trees "$A" "$B" "$C"

# 2. Park pinning: a peer sends 80 updates of 900 KiB whose predecessor
# never comes (36 of them would fill the 32 MiB in all). Only its share
# (16 MiB) waits; the rest are dropped and counted.
head -c $((900 * 1024)) /dev/urandom > "$T/v900"
"$MKUPDATE" newkey "$T/orphan.key" >/dev/null
steps=()
for i in $(seq 1 80); do
  mk orphan "o$i" --op set --clock now --entity self --model Junk --name f \
    --value-file "$T/v900" --prev "$(rand_hex)" >/dev/null
  [ $((i % 16)) -eq 1 ] && steps+=(send)
  steps+=("$T/o$i.upd")
done
per=$(stat -c %s "$T/o1.upd")
fit=$((16 * 1024 * 1024 / per))
w0=$(stat_of a updates_waiting) d0=$(stat_of a updates_dropped)
wd0=$(stat_of a updates_waiting_dropped) p0=$(stat_of a links_paused)
check_ok "the orphans reach A" hostile_probe $P handshake "${steps[@]}" open
all_judged() { [ $(($(stat_of a updates_waiting) - w0 + $(stat_of a updates_dropped) - d0)) -ge 80 ]; }
check_ok "A has taken all 80" wait_for 30 all_judged
check_eq "A keeps the peer's share: $fit of them" "$(($(stat_of a updates_waiting) - w0))" $fit
check_eq "and dropped the rest, counted" "$(($(stat_of a updates_dropped) - d0))" $((80 - fit))
check_eq "as dropped for want of room" "$(($(stat_of a updates_waiting_dropped) - wd0))" \
  $((80 - fit))
check_ok "A stopped reading the link while its queue was full (14 MiB messages)" \
  test "$(stat_of a links_paused)" -gt "$p0"
check_ok "what waits is within the share" \
  test "$(stat_of a updates_waiting_bytes)" -le $((16 * 1024 * 1024))
lines=$(grep -c "waiting for a predecessor dropped" "$T/a.log")
check_ok "A says so in its log, not once per update ($lines lines)" \
  test "$lines" -ge 1 -a "$lines" -le 3
for n in b c; do
  check_eq "$n was sent none of them" "$(stat_of $n updates_waiting)" 0
  check_eq "$n dropped nothing" "$(stat_of $n updates_dropped)" 0
done

# Another peer's object, and a 900 KiB field of it, before their model: they
# wait in that peer's share, and apply once the model comes.
"$MKUPDATE" newkey "$T/late.key" >/dev/null
lo=$(mk late late-object --op object-create --clock now --entity self --model Late --name late)
mk late late-field --op set --clock now+1 --entity self --model Late --name f \
  --value-file "$T/v900" --prev "$lo" >/dev/null
mk late late-model --op model-create --clock now --entity model --model Late >/dev/null
w1=$(stat_of a updates_waiting) d1=$(stat_of a updates_dropped)
wd1=$(stat_of a updates_waiting_dropped)
check_ok "the object and its field reach A" hostile_send $P "$T/late-object.upd" "$T/late-field.upd"
# The orphans' peer has no link left: past a quarter of the park, its
# updates make room (asked for again if it reconnects), and those of the
# peer still sending stay.
check_ok "both wait on A, the orphans of the peer that left gone" wait_for 10 \
  stat_cmp a updates_waiting eq $((w1 - fit + 2))
check_eq "the orphans let go are counted" \
  "$(($(stat_of a updates_waiting_dropped) - wd1))" "$fit"
check_ok "their model reaches A" hostile_send $P "$T/late-model.upd"
on_all "the late object" wait_for 15 test -d @N/Late/late
on_all "its field" wait_for 15 cmp -s "$T/v900" @N/Late/late/f
check_eq "A dropped none of them (the orphans only)" "$(stat_of a updates_dropped)" \
  $((d1 + fit))
check_eq "nothing waits on A any more" "$(stat_of a updates_waiting)" $((w1 - fit))
check_ok "same trees" wait_for 10 same_trees "$A" "$B" "$C"

# 2b. Bad updates a peer repeats are counted, each, but not logged each:
# 30 badly signed ones make at most 10 lines (and one saying how many more).
"$MKUPDATE" newkey "$T/bad.key" >/dev/null
files=()
for i in $(seq 1 30); do
  mk bad "bad$i" --op object-create --clock now --entity self --model Person --name "bad$i" \
    >/dev/null
  flip_byte "$T/bad$i.upd" -1
  files+=("$T/bad$i.upd")
done
d1=$(stat_of a updates_dropped)
lines0=$(grep -c "is malformed or badly signed; dropped" "$T/a.log")
check_ok "the bad updates reach A" hostile_send $P "${files[@]}"
check_ok "A counts every one dropped" wait_for 10 stat_cmp a updates_dropped eq $((d1 + 30))
lines=$(($(grep -c "is malformed or badly signed; dropped" "$T/a.log") - lines0))
check_ok "and logs at most 10 of them ($lines)" test "$lines" -ge 1 -a "$lines" -le 10
on_all "none of them shows" test ! -e @N/Person/bad1

# 3. A dropped update is asked for again: with a share of 4K, an update of
# 8 KiB whose predecessor is missing is dropped; the link's place in the
# peer's log stays before it (the next connection of that peer, with the
# same log, is asked for the log after entry 1 at most), while a peer that
# had everything stored is asked for what follows.
stop_node a
up a park_per_peer=4K
check_ok "A is back, linked" wait_for 15 all_linked
head -c 8192 /dev/urandom > "$T/v8k"
"$MKUPDATE" newkey "$T/peer1.key" >/dev/null
"$MKUPDATE" newkey "$T/peer2.key" >/dev/null
"$MKUPDATE" newkey "$T/zed.key" >/dev/null
"$MKUPDATE" newkey "$T/zed2.key" >/dev/null
z=$(mk zed z1 --op object-create --clock now --entity self --model Person --name zed)
mk zed z2 --op set --clock now+1 --entity self --model Person --name g --value-file "$T/v8k" \
  --prev "$(rand_hex)" >/dev/null
mk zed z3 --op set --clock now+2 --entity self --model Person --name name --value z \
  --prev "$z" >/dev/null
z=$(mk zed2 y1 --op object-create --clock now --entity self --model Person --name zed2)
z=$(mk zed2 y2 --op set --clock now+1 --entity self --model Person --name name --value a \
  --prev "$z")
mk zed2 y3 --op set --clock now+2 --entity self --model Person --name name --value b \
  --prev "$z" >/dev/null
p2=$("$MKUPDATE" pub "$T/peer2.key")
# peer N FILE...: a peer with its own key and log sends each file in a message of
# its own and stays connected (in the background, its pid in PROBE)
peer() {
  local k=$1 f steps=()
  shift
  for f in "$@"; do steps+=(send "$f"); done
  "$WSPROBE" --netkey "$NETKEY" --key "$T/peer$k.key" $P handshake "${steps[@]}" sleep 60000 \
    > "$T/peer$k.out" 2>&1 &
  PROBE=$!
  track_pid $PROBE
}
# wants N: where in its log the node asks peer N (again, its log 3 long) to start
wants() {
  timeout 30 "$WSPROBE" --netkey "$NETKEY" --key "$T/peer$1.key" --head 3 $P handshake open |
    sed -n 's/^handshake: the server wants our log after \([0-9]*\)$/\1/p'
}
ahead_of() { [ "$(peer_field a "$1" ahead)" == "$2" ]; }

d2=$(stat_of a updates_dropped)
peer 1 "$T/z1.upd" "$T/z2.upd" "$T/z3.upd"
check_ok "the update after the dropped one is applied" wait_for 10 file_is "$A/Person/zed/name" z
check_eq "the one without room is dropped, counted" "$(stat_of a updates_dropped)" $((d2 + 1))
kill "$PROBE" && wait "$PROBE" 2>/dev/null
check_ok "its link is gone" wait_for 10 all_linked
w=$(wants 1)
check_ok "its next connection is asked for the log after entry 1 at most (got '$w')" \
  test -n "$w" -a "${w:-9}" -le 1
peer 2 "$T/y1.upd" "$T/y2.upd" "$T/y3.upd"
check_ok "the other peer's updates are applied" wait_for 10 file_is "$A/Person/zed2/name" b
check_ok "and its place moved past them" wait_for 10 ahead_of "$p2" 0
kill "$PROBE" && wait "$PROBE" 2>/dev/null
check_ok "its link is gone" wait_for 10 all_linked
check_eq "its next connection is asked for the log after entry 3" "$(wants 2)" 3
on_all "zed's name" wait_for 10 file_is @N/Person/zed/name z
on_all "zed2's name" wait_for 10 file_is @N/Person/zed2/name b
for n in $NODES3; do
  check_ok "$n: zed has no field g" test ! -e "$T/$n/Person/zed/g"
done
check_ok "same trees" wait_for 10 same_trees "$A" "$B" "$C"

finish
