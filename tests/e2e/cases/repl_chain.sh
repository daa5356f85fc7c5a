# SPDX-License-Identifier: MIT
# repl_chain.sh - replication along a chain A <- B <- C (B peers A, C peers B):
# changes on A reach C through B and back; inotifywait on C sees remote
# changes as if made there; a stopped node catches up 10000 updates.
. "$(dirname "$0")/../lib.sh"
command -v inotifywait >/dev/null || skip "no inotifywait"

P=$(port_base 3)
start_node a -o listen=127.0.0.1:$P,sync=relaxed
start_node b -o listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,sync=relaxed
start_node c -o listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$((P + 1))
A=$T/a B=$T/b C=$T/c


check_ok "B has two links up" wait_for 10 links_up b 2
check_ok "C's link up" wait_for 10 links_up c 1
check_ok "A's link up" wait_for 10 links_up a 1
check_eq "B counts two peers" "$(stat_of b peers_up)" 2

# A to C, relayed by B
mkdir -p "$A/Note/one" && echo hello > "$A/Note/one/title"
check_ok "mkdir and echo on A reach C" wait_for 5 file_is "$C/Note/one/title" $'hello\n'
check_file "B has it too" "$B/Note/one/title" $'hello\n'
check_eq ".id agrees" "$(cat "$C/Note/one/.id")" "$(cat "$A/Note/one/.id")"
check_eq ".owner agrees" "$(cat "$C/Note/one/.owner")" "$(cat "$A/Note/one/.owner")"
check_fails "C cannot write A's object (strict: no w bit)" "Permission denied" \
  bash -c "echo x > '$C/Note/one/title'"
check_file "refused write changed nothing" "$C/Note/one/title" $'hello\n'

# C to A
mkdir "$C/Note/fromc" && printf 'from C' > "$C/Note/fromc/body"
check_ok "writes on C reach A" wait_for 5 file_is "$A/Note/fromc/body" "from C"
echo more >> "$C/Note/fromc/list" && echo again >> "$C/Note/fromc/list"
check_ok "appends on C reach A" wait_for 5 file_is "$A/Note/fromc/list" $'more\nagain\n'
check_ok "trees converge" wait_for 5 same_trees "$A" "$B" "$C"
check_same_trees "A B C after both directions" "$A" "$B" "$C"

# inotify on C sees A's changes
inotifywait -m -r -e create,modify,close_write,delete,moved_to,moved_from \
  --format '%e %w%f' "$C/Note" > "$T/events" 2> "$T/iw.err" &
IW=$!
track_pid $IW
check_ok "inotifywait watching" wait_for 10 grep -q "Watches established" "$T/iw.err"

# event_seen PATTERN: a line of the event log matches (grep -E, whole line)
event_seen() { grep -qxE "$1" "$T/events"; }
expect_event() {
  if wait_for 5 event_seen "$2"; then pass; else
    fail "$1: no event /$2/ in: $(tr '\n' ';' < "$T/events")"
  fi
}

echo v2 > "$A/Note/one/title"
expect_event "echo > field: MODIFY" "MODIFY $C/Note/one/title"
expect_event "echo > field: CLOSE_WRITE" "CLOSE_WRITE(,CLOSE)? $C/Note/one/title"
check_file "cat right after the event" "$C/Note/one/title" $'v2\n'

echo fresh > "$A/Note/one/added"
expect_event "new field: CREATE" "CREATE $C/Note/one/added"
expect_event "new field: CLOSE_WRITE" "CLOSE_WRITE(,CLOSE)? $C/Note/one/added"
check_file "new field right after the event" "$C/Note/one/added" $'fresh\n'

rm "$A/Note/one/added"
expect_event "rm field: DELETE" "DELETE $C/Note/one/added"
check_fails "deleted field gone right after the event" "No such file" cat "$C/Note/one/added"

mkdir "$A/Note/two"
expect_event "mkdir object: CREATE,ISDIR" "CREATE,ISDIR $C/Note/two"
check_ok "object there right after the event" test -d "$C/Note/two"
echo inner > "$A/Note/two/inside"
expect_event "field in the new object: CREATE (watched by -r)" "CREATE $C/Note/two/inside"
check_file "its value" "$C/Note/two/inside" $'inner\n'

rm -r "$A/Note/two"
expect_event "rm -r object: DELETE of its field" "DELETE $C/Note/two/inside"
expect_event "rm -r object: DELETE,ISDIR" "DELETE,ISDIR $C/Note/two"
check_fails "object gone right after the event" "No such file" ls "$C/Note/two"
kill $IW 2>/dev/null
wait $IW 2>/dev/null
check_eq "the events, in order, and no others" "$(sed "s|$C/Note/||" "$T/events" | tr '\n' ';')" \
"MODIFY one/title;CLOSE_WRITE,CLOSE one/title;\
CREATE one/added;MODIFY one/added;CLOSE_WRITE,CLOSE one/added;DELETE one/added;\
CREATE,ISDIR two;CREATE two/inside;MODIFY two/inside;CLOSE_WRITE,CLOSE two/inside;\
DELETE two/inside;DELETE,ISDIR two;"
check_ok "trees converge after the inotify part" wait_for 5 same_trees "$A" "$B" "$C"
check_same_trees "A B C after the inotify part" "$A" "$B" "$C"

# Catch-up: C is down while A makes 10000 updates.
stop_node c
a_recv0=$(stat_of a updates_received)
for o in 0 1 2 3; do mkdir "$A/Bulk$o" 2>/dev/null; mkdir "$A/Bulk$o/obj"; done
t0=${EPOCHREALTIME/./}
bulk_failed=0
for ((i = 0; i < 10000; i++)); do
  printf '%d\n' $i > "$A/Bulk$((i % 4))/obj/f$((i % 25))" || bulk_failed=$((bulk_failed + 1))
done
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
echo "10000 writes on A took ${ms} ms"
check_eq "every bulk write succeeded" $bulk_failed 0
check_ok "B got the bulk" wait_for 30 same_trees "$A" "$B"
# A node does not send a peer back what it got from that peer.
check_eq "A got none of its own updates back from B" "$(stat_of a updates_received)" "$a_recv0"
b_recv0=$(stat_of b updates_received)
start_node c -o listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$((P + 1))
t0=${EPOCHREALTIME/./}
check_ok "C catches up" wait_for 30 same_trees "$A" "$C"
echo "C caught up in $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
check_same_trees "A B C after the catch-up" "$A" "$B" "$C"
check_file "last value on C" "$C/Bulk3/obj/f24" $'9999\n'
recv=$(stat_of c updates_received)
if [ "${recv:-0}" -ge 10000 ]; then pass; else fail "C's updates_received: ${recv:-none}, want >= 10000"; fi
if [ "${recv:-0}" -lt 11000 ]; then pass; else
  fail "C's updates_received: $recv: B resent more than what C missed"
fi
if [ "$(stat_of c bytes_in)" -gt 0 ]; then pass; else fail "C's bytes_in did not move"; fi
if [ "$(stat_of b updates_sent)" -ge 10000 ]; then pass; else
  fail "B's updates_sent: $(stat_of b updates_sent), want >= 10000"
fi
check_eq "C holds every update" "$(stat_of c updates_stored)" "$(stat_of a updates_stored)"
check_eq "C's frames_dropped" "$(stat_of c frames_dropped)" 0
check_ok "B's link to C up again" wait_for 10 links_up b 2
# A few may come back: what was still on its way when a link went down.
back=$(($(stat_of b updates_received) - b_recv0))
if [ "$back" -lt 50 ]; then pass; else fail "B got $back updates of the catch-up back from C"; fi

# Both places survive a restart: C neither gets the bulk again nor sends
# B back what it got from B (its place in C's log moved past those too).
stop_node c
start_node c -o listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$((P + 1))
check_ok "B's link to C up after C's restart" wait_for 10 links_up b 2
echo after-restart > "$A/Bulk0/obj/f0"
check_ok "C gets a new write after its restart" wait_for 10 file_is "$C/Bulk0/obj/f0" $'after-restart\n'
recv=$(stat_of c updates_received)
if [ "${recv:-0}" -lt 100 ]; then pass; else
  fail "C's updates_received after its restart: $recv: B resent what C had"
fi
back=$(($(stat_of b updates_received) - b_recv0))
if [ "$back" -lt 50 ]; then pass; else fail "B got $back updates back from C after C's restart"; fi

stop_node c
stop_node b
stop_node a
finish
