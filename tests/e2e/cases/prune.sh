# SPDX-License-Identifier: MIT
# prune.sh - a node keeps its oldest eager link. A peer (wsprobe, with a key
# of its own) that is the node's only link sends PRUNE: the node refuses it
# (a GRAFT of no seq), counts it, and goes on sending that peer every update
# in full. With an older eager link to another node, a newer peer's PRUNE
# is taken: the node names its updates to that peer by hash (HAVE), and
# the older node still gets them in full.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P
A=$T/a
mkdir -p "$A/Doc/one" || fail "mkdir"
stat_is() { [ "$(stat_of "$1" "$2")" == "$3" ]; }

# The probe is A's only link: its PRUNE is refused, and what A writes next
# still comes in full.
hostile_probe "$P" handshake prune kept sleep 2000 fetch "$T/kept" > "$T/kept.out" 2>&1 &
probe=$!
track_pid "$probe"
check_ok "A refused the PRUNE of its only link" wait_for 10 stat_is a prunes_refused 1
for i in 1 2 3; do echo "v$i" > "$A/Doc/one/f$i" || fail "write f$i"; done
wait "$probe"
rc=$?
check_eq "the probe saw the refusal and fetched: $(tr '\n' ' ' < "$T/kept.out")" $rc 0
check_eq "every update of A's log came in full" "$(find "$T/kept" -name '*.upd' | wc -l)" \
  "$(stat_of a log_head)"
check_ok "A logged no bad frame" stat_is a frames_dropped 0

# B links first; a probe linked later is pruned for real.
start_node b -o peer=wss://127.0.0.1:$P
B=$T/b
check_ok "B's link up" wait_for 10 links_up b 1
hostile_probe "$P" handshake prune taken announced > "$T/taken.out" 2>&1 &
probe=$!
track_pid "$probe"
check_ok "the probe's link up" wait_for 10 links_up a 2
sleep 2.5 # the probe's "taken": no refusal within 2 s
echo "after the prune" > "$A/Doc/one/late" || fail "write late"
wait "$probe"
rc=$?
check_eq "the probe was named the update by hash: $(tr '\n' ' ' < "$T/taken.out")" $rc 0
check_eq "A refused no other PRUNE" "$(stat_of a prunes_refused)" 1
check_ok "B has the update in full" wait_for 10 file_is "$B/Doc/one/late" $'after the prune\n'
finish
