# SPDX-License-Identifier: MIT
# repl_wire.sh - a hostile peer (wsprobe: a hand-written WebSocket client
# with a node key of its own) sends garbage, malformed, oversized and forged
# messages: they are dropped and logged, the forged object never appears,
# the link and the node go on, and a valid update on the same link lands.
. "$(dirname "$0")/../lib.sh"
: "${WSPROBE:=$(dirname "$DINEMICFS")/../tests/e2e/wsprobe}"
[ -x "$WSPROBE" ] || skip "no wsprobe at $WSPROBE"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P
start_node b -o peer=ws://127.0.0.1:$P
A=$T/a B=$T/b

# probe NAME STEP...: runs wsprobe against A, output in $T/NAME.out
probe() {
  local n=$1
  shift
  timeout 60 "$WSPROBE" $P "$@" > "$T/$n.out" 2>&1
}

check_ok "B's link up" wait_for 10 links_up b 1
mkdir -p "$A/Wire/seed" && echo s > "$A/Wire/seed/f"
check_ok "B has the seed" wait_for 10 file_is "$B/Wire/seed/f" $'s\n'

# Before the handshake, anything but HELLO and AUTH ends the link.
if probe pre-garbage garbage closed; then pass; else
  fail "garbage before the handshake: $(cat "$T/pre-garbage.out")"
fi
if probe pre-updates valid Wire sneaky f sneaked closed; then pass; else
  fail "updates before the handshake: $(cat "$T/pre-updates.out")"
fi
if probe bad-auth badauth closed; then pass; else
  fail "an AUTH that does not verify: $(cat "$T/bad-auth.out")"
fi
check_ok "A logs the refused AUTH" grep -q "refused at the handshake: bad node signature" "$A/.node/log"
check_ok "A still serves B" links_up a 1

# After the handshake: one link, every kind of bad message, then a valid update.
before=$(stat_of a frames_dropped)
refused_before=$(stat_of a updates_refused)
if probe main handshake forged Wire evil garbage badwant badhello unknown badseq badlen \
  badrecord Wire broken oversized open valid Wire good f "from the probe" acked open; then
  pass
else
  fail "the hostile link: $(tr '\n' ';' < "$T/main.out")"
fi
check_ok "the probe was up" grep -q "^handshake: up as" "$T/main.out"
check_ok "the link survived everything (pong after the oversized message)" \
  grep -qx "open: pong" "$T/main.out"
check_ok "the valid update was logged, and not sent back to the peer it came from" \
  grep -q "^acked: the server logged our update and did not send it back" "$T/main.out"
check_ok "no forged update was streamed back" \
  bash -c "! grep -q 'streamed a forged update back' '$T/main.out'"
probe_id=$(sed -n 's/^handshake: up as //p' "$T/main.out")
forged=$(sed -n 's/^forged .*: update //p' "$T/main.out")
broken=$(sed -n 's/^badrecord .*: update //p' "$T/main.out")

# The node goes on: its mount works, the probe's valid object is there and
# reaches the normal peer, the forged one never appears anywhere.
check_file "the probe's update on A" "$A/Wire/good/f" "from the probe"
check_ok "the probe's update relayed to B" wait_for 10 file_is "$B/Wire/good/f" "from the probe"
check_ok "A's mount works: ls" ls "$A/Wire/seed"
check_ok "A's mount works: write" bash -c "echo after > '$A/Wire/seed/g'"
check_ok "the normal peer still replicates" wait_for 10 file_is "$B/Wire/seed/g" $'after\n'
mkdir "$B/Wire/fromb" && echo b > "$B/Wire/fromb/f"
check_ok "and the other way" wait_for 10 file_is "$A/Wire/fromb/f" $'b\n'
for n in a b; do
  check_fails "$n: the forged object never appears" "No such file" ls "$T/$n/Wire/evil"
  check_fails "$n: the bad record never appears" "No such file" ls "$T/$n/Wire/broken"
  check_fails "$n: nothing from before the handshake" "No such file" ls "$T/$n/Wire/sneaky"
  check_fails "$n: nothing from the bad frames" "No such file" ls "$T/$n/Wire/badframe"
done
check_same_trees "A and B" "$A" "$B"

# Dropped and logged.
after=$(stat_of a frames_dropped)
if [ $((after - before)) -ge 7 ]; then pass; else
  fail "frames_dropped moved by $((after - before)), want >= 7 (7 bad messages)"
fi
check_eq "B dropped nothing" "$(stat_of b frames_dropped)" 0
check_ok "A logs the malformed messages" \
  grep -q "($probe_id): malformed message; dropped" "$A/.node/log"
check_eq "one malformed line per bad message" \
  "$(grep -c "($probe_id): malformed message; dropped" "$A/.node/log")" 6
check_ok "A logs the oversized message" grep -q "($probe_id): oversized message; dropped" "$A/.node/log"
refused=$(stat_of a updates_refused)
if [ $((refused - refused_before)) -ge 2 ]; then pass; else
  fail "updates_refused moved by $((refused - refused_before)), want >= 2 (forged, bad record)"
fi
# The contract: forged frames are dropped *and logged* (by hash, as other
# dropped updates are, or naming the peer that sent them).
check_ok "A logs the forged update ($forged)" \
  grep -qE "$forged|\($probe_id\).*(signature|forged)" "$A/.node/log"
check_ok "A logs the undecodable update ($broken)" \
  grep -qE "$broken|\($probe_id\).*(record|update)" "$A/.node/log"
# A replayed update is a no-op: known by its hash, stored once, applied once.
stored_before=$(stat_of a updates_stored)
history_before=$(cat "$A/Wire/good/.history")
if probe replayer handshake valid Wire again f once acked replay open; then pass; else
  fail "the replaying link: $(tr '\n' ';' < "$T/replayer.out")"
fi
check_ok "the replay was sent" grep -q "^replay: update" "$T/replayer.out"
check_eq "the replay stored nothing new" "$(stat_of a updates_stored)" $((stored_before + 2))
check_file "Wire/again holds its value" "$A/Wire/again/f" "once"
check_eq "Wire/again has two lines of history" "$(wc -l < "$A/Wire/again/.history")" 2
check_eq "Wire/good's history is unchanged" "$(cat "$A/Wire/good/.history")" "$history_before"
check_eq "A's link to B stayed up throughout" "$(grep -c 'link to .* up' "$T/b.log")" 1
check_ok "A still serves B" links_up a 1

stop_node b
stop_node a
finish
