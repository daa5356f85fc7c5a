# SPDX-License-Identifier: MIT
# repl_wire.sh - a hostile peer (wsprobe: a hand-written WebSocket client
# over TLS, with a node key and certificate of its own) sends garbage,
# malformed, oversized and forged messages: they are dropped and logged, the
# forged object never appears, the link and the node go on, and a valid
# update on the same link lands. Then the link's security: a made-up key
# gets in only where no network key or trust list says otherwise; a node
# with a network key refuses the probe without it and stores nothing it
# sent; the reflection attacks on two keyed nodes fail on both; an Origin
# header, a plain (non-TLS) client and an oversized first message are
# refused.
. "$(dirname "$0")/../lib.sh"
: "${WSPROBE:=$(dirname "$DINEMICFS")/../tests/e2e/wsprobe}"
[ -x "$WSPROBE" ] || skip "no wsprobe at $WSPROBE"

P=$(port_base 7)
start_node a -o listen=127.0.0.1:$P,log_level=info
start_node b -o peer=wss://127.0.0.1:$P
A=$T/a B=$T/b

# probe_at PORT NAME [OPTION...] STEP...: runs wsprobe against PORT, output in $T/NAME.out
probe_at() {
  local port=$1 n=$2 opts=()
  shift 2
  while [[ ${1:-} == --* ]]; do
    opts+=("$1")
    [ "$1" != --netkey ] || { opts+=("$2"); shift; }
    shift
  done
  timeout 90 "$WSPROBE" "${opts[@]}" "$port" "$@" > "$T/$n.out" 2>&1
}
# probe NAME [OPTION...] STEP...: runs wsprobe against A
probe() { probe_at $P "$@"; }
# count_in FILE REGEX: the lines of FILE matching REGEX
count_in() { grep -cE -- "$2" "$1"; }

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
check_ok "over TLS 1.3" grep -qx "handshake: link TLSv1.3" "$T/main.out"
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

# ---- The link's security ----

# An open node (no network_key, no trust list) admits a made-up key, over
# TLS 1.3; what an admitted probe sends is stored (the control for the
# refusals below: the same steps do land where the probe gets in).
check_ok "A admitted the probe's made-up key: open, TLS 1.3" \
  grep -q "($probe_id) admitted (open, TLSv1.3)" "$T/a.log"
if probe ctl attempt Wire ctl sleep 500; then pass; else
  fail "an attempt on an open node: $(tr '\n' ';' < "$T/ctl.out")"
fi
check_ok "an open node stores what an attempt sends" wait_for 10 test -d "$A/Wire/ctl"

# A node with a network key: the probe without it, or with another key, is
# refused, counted, and nothing it sent is stored; with the key it gets in.
PK=$((P + 1))
K1=$T/k1.key K2=$T/k2.key
for f in "$K1" "$K2"; do
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$f" && chmod 600 "$f"
done
start_node k -o listen=127.0.0.1:$PK,network_key=$K1,log_level=info
K=$T/k
mkdir -p "$K/Wire/seed"	# the model exists: an object of it could be stored
check_eq "K: no peer refused yet" "$(stat_of k peers_refused)" 0
if probe_at $PK keyless attempt Wire keyless refused; then pass; else
  fail "the probe without the key: $(tr '\n' ';' < "$T/keyless.out")"
fi
if probe_at $PK wrongkey --netkey "$K2" attempt Wire wrongkey refused; then pass; else
  fail "the probe with another key: $(tr '\n' ';' < "$T/wrongkey.out")"
fi
check_eq "K: both refusals counted in peers_refused" "$(stat_of k peers_refused)" 2
check_eq "K: no network key: refused at its HELLO" \
  "$(count_in "$K/.node/log" 'refused at the handshake: peer has no network key')" 1
check_eq "K: another key: refused at its AUTH" \
  "$(count_in "$K/.node/log" 'refused at the handshake: wrong network key')" 1
if probe_at $PK keyed --netkey "$K1" attempt Wire keyed sleep 500; then pass; else
  fail "the probe with the key: $(tr '\n' ';' < "$T/keyed.out")"
fi
check_ok "K: with the key the probe gets in, and its object is stored" \
  wait_for 10 test -d "$K/Wire/keyed"
check_ok "K: admitted by the key" grep -q "admitted (key, TLSv1.3)" "$T/k.log"
# Sent before the keyed one, so they would be there by now.
check_fails "K: nothing from the probe without the key" "No such file" ls "$K/Wire/keyless"
check_fails "K: nothing from the probe with another key" "No such file" ls "$K/Wire/wrongkey"
check_eq "K: no more refusals" "$(stat_of k peers_refused)" 2

# The reflection attacks: C and D share the key, D connects to C. The probe,
# without the key, hands each node a proof the other made, or its own back,
# or claims to be the other node with that node's proof (see wsprobe.c).
PC=$((P + 2)) PD=$((P + 3))
start_node c -o listen=127.0.0.1:$PC,network_key=$K1
start_node d -o listen=127.0.0.1:$PD,network_key=$K1,peer=wss://127.0.0.1:$PC
C=$T/c D=$T/d
check_ok "D's link to C up" wait_for 10 links_up d 1
mkdir -p "$C/Wire/seed" && echo 0 > "$C/Wire/seed/f"
check_ok "D has C's seed" wait_for 10 file_is "$D/Wire/seed/f" $'0\n'
declare -A was_refused was_key was_cert
for n in c d; do
  was_refused[$n]=$(stat_of $n peers_refused)
  was_key[$n]=$(count_in "$T/$n/.node/log" 'refused at the handshake: wrong network key')
  was_cert[$n]=$(count_in "$T/$n/.node/log" 'names another key than its certificate')
done
if probe_at $PC reflect reflect $PD; then pass; else
  fail "the reflection attacks: $(tr '\n' ';' < "$T/reflect.out")"
fi
check_eq "six attempts, each refused" \
  "$(count_in "$T/reflect.out" '^reflect (cross|mirror|impersonate): node [12] refused it \(closed\)$')" 6
check_eq "the MACs relayed were the nodes' own (not zeros)" \
  "$(count_in "$T/reflect.out" 'MAC to relay is zeros')" 0
for n in c d; do
  check_eq "$n: three refusals counted" \
    "$(($(stat_of $n peers_refused) - ${was_refused[$n]}))" 3
  check_eq "$n: the relayed and the reflected MAC: wrong network key" \
    "$(($(count_in "$T/$n/.node/log" 'refused at the handshake: wrong network key') - ${was_key[$n]}))" 2
  check_eq "$n: the impersonation: not its certificate's key" \
    "$(($(count_in "$T/$n/.node/log" 'names another key than its certificate') - ${was_cert[$n]}))" 1
done
check_eq "D's link to C stayed up through the attacks" "$(grep -c 'link to .* up' "$T/d.log")" 1
# The real link's places in the logs were not moved: C's next writes arrive
# and both sides are in sync.
for i in 1 2 3 4 5; do echo "v$i" > "$C/Wire/seed/f"; done
check_ok "C's five new values reach D" wait_for 10 file_is "$D/Wire/seed/f" $'v5\n'
d_row_for_c() {
  grep -E "^wss://127\.0\.0\.1:$PC +up +$(head -c 16 "$C/.node/id") " "$D/.node/peers"
}
d_in_sync() { d_row_for_c | grep -qE " 0 +0 +$(stat_of d log_head) +TLSv1\.3 +key +- *$"; }
check_ok "D's row for C: behind 0, ahead 0, all acked (TLS, admitted by key)" wait_for 10 d_in_sync
check_eq "D has one row for C" "$(d_row_for_c | wc -l)" 1
check_eq "C: one link up (D's)" "$(grep -cE '\s+up\s+[0-9a-f]{16}\s' "$C/.node/peers")" 1
for n in c d; do
  for o in cross-1 cross-2 mirror-1 mirror-2 as-1 as-2; do
    check_fails "$n: no object from the reflection attack ($o)" "No such file" \
      ls "$T/$n/Wire/reflected-$o"
  done
done

# The same on plain links: no certificate stops the impersonation there, so
# it meets the proof, which names the side and the verifier: refused too.
PF=$((P + 5)) PG=$((P + 6))
start_node f -o listen=127.0.0.1:$PF,network_key=$K1,unencrypted_links
start_node g -o listen=127.0.0.1:$PG,network_key=$K1,unencrypted_links,peer=ws://127.0.0.1:$PF
check_ok "G's plain link to F up" wait_for 10 links_up g 1
if probe_at $PF reflect-plain --plain reflect $PG; then pass; else
  fail "the reflection attacks, plain: $(tr '\n' ';' < "$T/reflect-plain.out")"
fi
check_eq "plain: six attempts, each refused" \
  "$(count_in "$T/reflect-plain.out" '^reflect (cross|mirror|impersonate): node [12] refused it \(closed\)$')" 6
for n in f g; do
  check_eq "$n: the relayed and the reflected MAC: wrong network key" \
    "$(count_in "$T/$n/.node/log" 'refused at the handshake: wrong network key')" 2
  check_eq "$n: the impersonation: the other node's signature is not over this link" \
    "$(count_in "$T/$n/.node/log" 'refused at the handshake: bad node signature')" 1
  check_eq "$n: three refusals counted" "$(stat_of $n peers_refused)" 3
done
check_eq "G's link to F stayed up" "$(grep -c 'link to .* up' "$T/g.log")" 1

# An upgrade carrying an Origin header (a web page's) is refused and counted.
was=$(stat_of a peers_refused)
if probe origin --origin refused; then pass; else
  fail "the probe with an Origin: $(tr '\n' ';' < "$T/origin.out")"
fi
check_ok "A logs the Origin refusal" grep -q "refused: it sent an Origin header" "$A/.node/log"
check_eq "A counted it" "$(($(stat_of a peers_refused) - was))" 1
# A plain client is refused by a TLS node, and a TLS client by a plain node;
# each gets in where its kind is spoken (so the refusals are about TLS).
was=$(stat_of a peers_refused)
if probe plain --plain refused; then pass; else
  fail "the plain probe on a TLS node: $(tr '\n' ';' < "$T/plain.out")"
fi
# It is told which protocol this is (a HELLO of this version), then closed.
check_ok "the plain client got A's HELLO before the close" \
  grep -q "refused: got the server's HELLO (version 6), then closed" "$T/plain.out"
check_ok "A logs why" grep -q "refused: a plain (ws://) connection: this node speaks TLS only" \
  "$A/.node/log"
check_eq "A counted it" "$(($(stat_of a peers_refused) - was))" 1
PE=$((P + 4))
start_node e -o listen=127.0.0.1:$PE,unencrypted_links,log_level=info
if probe_at $PE plain-ok --plain handshake open; then pass; else
  fail "the plain probe on a plain node: $(tr '\n' ';' < "$T/plain-ok.out")"
fi
check_ok "E admitted it, plain" grep -q "admitted (open, plain)" "$T/e.log"
if probe_at $PE tls-on-plain refused; then pass; else
  fail "the TLS probe on a plain node: $(tr '\n' ';' < "$T/tls-on-plain.out")"
fi
check_ok "the TLS client failed its handshake there" grep -q "TLS handshake failed" "$T/tls-on-plain.out"
# Before admission a message may have 256 bytes: a 300-byte HELLO ends the link.
was=$(count_in "$A/.node/log" 'oversized message before admission')
if probe big oversized-hello refused; then pass; else
  fail "the oversized HELLO: $(tr '\n' ';' < "$T/big.out")"
fi
check_eq "A logs it as oversized before admission" \
  "$(($(count_in "$A/.node/log" 'oversized message before admission') - was))" 1
# A connection that opens its WebSocket and then says nothing is closed by
# the handshake deadline (10 s), and the node says why.
if probe mute sleep 12000 closed; then pass; else
  fail "the mute connection: $(tr '\n' ';' < "$T/mute.out")"
fi
check_ok "A logs the handshake deadline" grep -q "no handshake within 10 s; closed" "$T/a.log"
check_ok "A still serves B" links_up a 1
# A link gets A's log once: a second WANT 0 is dropped, not answered with
# the whole log again.
was=$(stat_of a frames_dropped)
if probe again handshake fetch "$T/first" want 0 fetch "$T/second" open; then pass; else
  fail "the second WANT: $(tr '\n' ';' < "$T/again.out")"
fi
check_ok "the first WANT got A's log" test -n "$(ls "$T/first")"
check_eq "the second WANT got nothing" "$(ls "$T/second" | wc -l)" 0
check_eq "A counted it as a dropped frame" "$(($(stat_of a frames_dropped) - was))" 1
check_ok "A logs it" grep -q "second WANT; dropped" "$A/.node/log"

for n in g f e d c k b a; do stop_node $n; done
finish
