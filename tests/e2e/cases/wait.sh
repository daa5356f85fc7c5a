# SPDX-License-Identifier: MIT
# wait.sh - `dinemicfs wait`: returns once every peer that is up has stored
# this node's log up to the call (checked on the peers, right away, without
# waiting); names a stopped peer on a timeout (exit 1); nothing to wait for
# without peers; usage errors exit 2; a peer acknowledging more than it was
# sent changes nothing and is counted.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P
start_node b -o peer=wss://127.0.0.1:$P
start_node c -o peer=wss://127.0.0.1:$P
start_node d
A=$T/a B=$T/b C=$T/c D=$T/d
# stat_above NODE KEY N: the counter is above N (for wait_for)
stat_above() { [ "$(stat_of "$1" "$2")" -gt "$3" ]; }
BPID=$(stat_of b pid)
# A stopped B must go on at the end, whatever failed, or it cannot be stopped.
trap 'kill -CONT "$BPID" 2>/dev/null; cleanup' EXIT

check_ok "A has two links up" wait_for 10 links_up a 2
check_ok "B's link up" wait_for 10 links_up b 1
check_ok "C's link up" wait_for 10 links_up c 1

# usage
"$DINEMICFS" wait >/dev/null 2>&1
check_eq "no MOUNTPOINT: exit 2" $? 2
"$DINEMICFS" wait "$A" --timeout x >/dev/null 2>&1
check_eq "a bad --timeout: exit 2" $? 2
"$DINEMICFS" wait "$A" --bogus >/dev/null 2>&1
check_eq "an unknown option: exit 2" $? 2
"$DINEMICFS" wait "$T" >/dev/null 2>&1
check_eq "not a mount: exit 1" $? 1
out=$("$DINEMICFS" wait "$D" 2>&1)
check_eq "no peers: exit 0" $? 0
[[ $out == *"nothing to wait for"* ]] && pass || fail "no peers: said [$out]"

# A writes; once wait returns, B and C have every value, read at once.
mkdir -p "$A/Note/one"
for round in 1 2 3; do
  for i in $(seq 1 100); do echo "r$round v$i" > "$A/Note/one/f$i"; done
  mkdir "$A/Note/r$round" && echo "last $round" > "$A/Note/r$round/end"
  head=$(stat_of a log_head)
  "$DINEMICFS" wait "$A" --timeout 30
  check_eq "round $round: wait exits 0" $? 0
  for n in b c; do
    check_file "round $round: $n has A's last value at once" "$T/$n/Note/r$round/end" \
      "last $round"$'\n'
    check_file "round $round: $n has the 100th field at once" "$T/$n/Note/one/f100" \
      "r$round v100"$'\n'
    check_eq "round $round: A's row for $n: acked reaches the head" \
      $(($(peer_field a "$(head -c 16 "$T/$n/.node/id")" acked) >= head)) 1
  done
done
check_eq "the log head moved" $(($(stat_of a log_head) >= 300)) 1

# B stopped: its link stays up for a while but acknowledges nothing; wait names it.
BID=$(head -c 16 "$B/.node/id") CID=$(head -c 16 "$C/.node/id")
kill -STOP "$BPID"
echo "while B sleeps" > "$A/Note/one/late"
out=$("$DINEMICFS" wait "$A" --timeout 2 2>"$T/wait.err")
rc=$?
check_eq "B stopped: wait --timeout 2 exits 1" $rc 1
[[ $out == *"lagging $BID acked "*" head $(stat_of a log_head) "* ]] && pass ||
  fail "B stopped: wait did not name B: [$out] [$(cat "$T/wait.err")]"
[[ $out != *"$CID"* ]] && pass || fail "B stopped: wait named C, which has it: [$out]"
check_file "C has the late value" "$C/Note/one/late" $'while B sleeps\n'
kill -CONT "$BPID"
"$DINEMICFS" wait "$A" --timeout 30
check_eq "B goes on: wait exits 0" $? 0
check_file "B has the late value at once" "$B/Note/one/late" $'while B sleeps\n'

# A hostile peer acknowledges far more than it was sent: counted, clamped.
dropped=$(stat_of a frames_dropped)
hostile_probe "$P" handshake ack 999999999 open >"$T/probe.out" 2>&1
check_eq "the probe ran" $? 0
check_ok "the ACK past what was sent is counted" \
  wait_for 5 stat_above a frames_dropped "$dropped"
check_ok "and logged" grep -q "ACK past what was sent" "$T/a.log"
echo after > "$A/Note/one/after"
"$DINEMICFS" wait "$A" --timeout 30
check_eq "after the probe: wait exits 0" $? 0
check_file "B has the value after the probe" "$B/Note/one/after" $'after\n'
check_ok "A's links: two up again (the probe's gone)" wait_for 10 links_up a 2

finish
