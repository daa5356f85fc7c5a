# SPDX-License-Identifier: MIT
# repl_tls.sh - the links are TLS 1.3 and admit only whom they should, on
# real mounts on 127.0.0.1:
#  - a chain A <- B <- C converges, every link TLSv1.3 at both ends;
#  - network_key: a node with another key is refused, nothing of it arrives;
#  - -o trust=FILE: an unlisted node is refused, and admitted once its id
#    is appended to FILE, without a restart;
#  - a pin (#NODEID): the wrong node is refused, the right one admitted;
#  - ws:// needs -o unencrypted_links; plain links work between plain
#    nodes, and never between a plain node and a TLS one;
#  - a value written and replicated crosses the wire unreadable over TLS,
#    readable on a plain link (the same capture, to show it would see it);
#  - of 200 idle TCP connections that never start TLS, the node keeps the
#    newest 8 (one network's share), counting the rest as over the limit;
#    they do not keep a real peer out, and the last close by the deadline.
. "$(dirname "$0")/../lib.sh"

command -v ss >/dev/null || skip "no ss (iproute2)"
command -v strace >/dev/null || skip "no strace"

P=$(port_base 9)
PA=$P PB=$((P + 1)) PN=$((P + 2)) PT=$((P + 3)) PP=$((P + 4)) PU=$((P + 5))
PS=$((P + 6)) PS2=$((P + 7)) PI=$((P + 8))

t_case=${EPOCHREALTIME/./}
t_part=$t_case
# lap WHAT: prints how long the part since the last lap took
lap() {
  local now=${EPOCHREALTIME/./}
  echo "time: $1 $(((now - t_part) / 1000)) ms"
  t_part=$now
}

id_of() { cat "$T/$1/.node/id"; }
# field_is NODE PEER COLUMN WANT: (for wait_for) see peer_field in lib.sh
field_is() { [ "$(peer_field "$1" "$2" "$3")" == "$4" ]; }
# field_has NODE PEER COLUMN TEXT: the column holds TEXT
field_has() { [[ "$(peer_field "$1" "$2" "$3")" == *"$4"* ]]; }
# check_field WHAT NODE PEER COLUMN WANT: with the whole table on failure
check_field() {
  local got
  got=$(peer_field "$2" "$3" "$4")
  if [ "$got" == "$5" ]; then pass; else
    fail "$1: $4 is [$got], want [$5]; $2's .node/peers: $(cat "$T/$2/.node/peers")"
  fi
}
# stat_above NODE KEY N: the counter is above N (for wait_for)
stat_above() { [ "$(stat_of "$1" "$2")" -gt "$3" ]; }
stop_nodes() { local n; for n in "$@"; do stop_node "$n"; done; }
# link_failed NODE PEER: the link is not up and its error column says why
link_failed() {
  local e
  e=$(peer_field "$1" "$2" error)
  [ -n "$e" ] && [ "$e" != - ] && ! field_is "$1" "$2" state up
}

# --- A <- B <- C over TLS
start_node a -o listen=127.0.0.1:$PA
start_node b -o listen=127.0.0.1:$PB,peer=wss://127.0.0.1:$PA
start_node c -o peer=wss://127.0.0.1:$PB
A=$T/a B=$T/b C=$T/c
check_ok "B has both links up" wait_for 10 links_up b 2
check_ok "C's link up" wait_for 10 links_up c 1
mkdir -p "$A/Doc/chain"
echo "from a" > "$A/Doc/chain/f"
check_ok "A's write arrives on B" wait_for 10 file_is "$B/Doc/chain/f" $'from a\n'
check_ok "and on C, through B" wait_for 10 file_is "$C/Doc/chain/f" $'from a\n'
mkdir -p "$C/Doc/back"
echo "from c" > "$C/Doc/back/f"
check_ok "C's write arrives on A, through B" wait_for 10 file_is "$A/Doc/back/f" $'from c\n'
check_field "A's end of A-B" a "$(id_of b)" link TLSv1.3
check_field "B's end of A-B" b wss://127.0.0.1:$PA link TLSv1.3
check_field "B's end of B-C" b "$(id_of c)" link TLSv1.3
check_field "C's end of B-C" c wss://127.0.0.1:$PB link TLSv1.3
check_field "B's end of A-B: node" b wss://127.0.0.1:$PA node "$(id_of a | cut -c1-16)"
check_field "A-B admitted, no key nor list" a "$(id_of b)" admitted open
check_eq "no refusals on A" "$(stat_of a peers_refused)" 0
lap "chain"

# --- network_key: the same key joins, another is refused
K1=$T/k1 K2=$T/k2
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$K1"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$K2"
chmod 600 "$K1" "$K2"
start_node n1 -o listen=127.0.0.1:$PN,network_key=$K1
start_node n2 -o peer=wss://127.0.0.1:$PN,network_key=$K1
check_ok "same key: link up" wait_for 10 links_up n1 1
check_field "same key: admitted by key" n1 "$(id_of n2)" admitted key
check_field "same key: TLS" n2 wss:// link TLSv1.3
refused0=$(stat_of n1 peers_refused)
start_node n3 -o peer=wss://127.0.0.1:$PN,network_key=$K2
mkdir -p "$T/n3/Spy/n3" && echo leaked > "$T/n3/Spy/n3/f"
wrong_key() {
  field_is n3 wss:// error "wrong network key" || grep -q "wrong network key" "$T/n1/.node/peers"
}
check_ok "other key: .node/peers says wrong network key" wait_for 10 wrong_key
check_ok "other key: N1 counts a refusal" \
  wait_for 10 stat_above n1 peers_refused "$refused0"
check_ok "other key: N1 logs it" grep -q "refused at the handshake: wrong network key" \
  "$T/n1/.node/log"
# A write that does arrive, made after N3's, before looking for N3's.
mkdir -p "$T/n2/Doc/n2" && echo ok > "$T/n2/Doc/n2/f"
check_ok "N2's later write arrives on N1" wait_for 10 file_is "$T/n1/Doc/n2/f" $'ok\n'
check_ok "N3's write never arrives on N1" test ! -e "$T/n1/Spy"
check_ok "nor on N2" test ! -e "$T/n2/Spy"
check_ok "N3 got nothing" test ! -e "$T/n3/Doc"
check_eq "N3's link never up" "$(stat_of n3 peers_up)" 0
check_eq "N1 has one link up" "$(stat_of n1 peers_up)" 1
stop_nodes n3 n2 n1
lap "network_key"

# --- trust=FILE: refused until listed, then admitted on its next reconnect
TRUST=$T/trust
printf '# nodes t1 admits\n%s\n' "$(id_of a)" > "$TRUST"
start_node t1 -o listen=127.0.0.1:$PT,trust=$TRUST
start_node t2 -o peer=wss://127.0.0.1:$PT
mkdir -p "$T/t2/Doc/t2" && echo "from t2" > "$T/t2/Doc/t2/f"
check_ok "unlisted: T1 logs not in the trust list" wait_for 10 \
  grep -q "refused at the handshake: not in the trust list" "$T/t1/.node/log"
check_ok "unlisted: T1 counts refusals" wait_for 10 stat_above t1 peers_refused 0
sleep 3
# Refused, T2 retries ever slower (100, 200, 400 ms ...), not ten times a second.
n_refused=$(grep -c "not in the trust list" "$T/t1/.node/log")
echo "trust: $n_refused refusals of T2 in its first 3 s"
check_ok "unlisted: T2 backs off ($n_refused refusals in 3 s)" test "$n_refused" -le 10
check_eq "unlisted: no link up on T1" "$(stat_of t1 peers_up)" 0
check_eq "unlisted: no link up on T2" "$(stat_of t2 peers_up)" 0
check_ok "unlisted: T2's write did not arrive" test ! -e "$T/t1/Doc"
printf '# t2, added while t1 runs\n%s\n' "$(id_of t2)" >> "$TRUST"
t0=${EPOCHREALTIME/./}
check_ok "listed: T2's write arrives, no restart" wait_for 12 file_is "$T/t1/Doc/t2/f" $'from t2\n'
echo "time: trust list append to arrival $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
check_field "listed: T1 admitted T2 by the trust list" t1 "$(id_of t2)" admitted trust
check_field "listed: T2 admitted T1, open" t2 wss:// admitted open
stop_nodes t2 t1
lap "trust"

# --- pins: wss://HOST:PORT#NODEID
start_node p1 -o listen=127.0.0.1:$PP
start_node p2 -o peer=wss://127.0.0.1:$PP#$(id_of a)
mkdir -p "$T/p2/Spy/p2" && echo leaked > "$T/p2/Spy/p2/f"
check_ok "wrong pin: refused, not the pinned node" wait_for 10 \
  field_has p2 wss:// error "not the pinned node"
check_ok "wrong pin: P2 counts a refusal" wait_for 5 stat_above p2 peers_refused 0
check_ok "wrong pin: P2's log says so" grep -q "refused: not the pinned node" "$T/p2/.node/log"
start_node p3 -o peer=wss://127.0.0.1:$PP#$(id_of p1)
check_ok "right pin: link up" wait_for 10 links_up p3 1
check_field "right pin: admitted by the pin" p3 wss://127.0.0.1:$PP admitted pin
check_field "right pin: TLS" p3 wss://127.0.0.1:$PP link TLSv1.3
check_field "right pin: shown without the pin" p3 wss://127.0.0.1:$PP peer wss://127.0.0.1:$PP
mkdir -p "$T/p3/Doc/p3" && echo pinned > "$T/p3/Doc/p3/f"
check_ok "right pin: P3's write arrives" wait_for 10 file_is "$T/p1/Doc/p3/f" $'pinned\n'
check_ok "wrong pin: P2's write never arrives" test ! -e "$T/p1/Spy"
check_eq "wrong pin: P2's link never up" "$(stat_of p2 peers_up)" 0
stop_nodes p3 p2
lap "pin"

# --- ws:// and -o unencrypted_links
mkdir -p "$T/w"
check_fails "ws:// refused without unencrypted_links" "unencrypted_links" \
  timeout 10 "$DINEMICFS" -f -o peer=ws://127.0.0.1:$PU "$T/w.state" "$T/w"
check_ok "ws:// refused: nothing mounted" bash -c "! mountpoint -q '$T/w'"
check_fails "unencrypted_links refuses wss://" "ws://" \
  timeout 10 "$DINEMICFS" -f -o unencrypted_links,peer=wss://127.0.0.1:$PU "$T/w.state" "$T/w"
is_mounted "$T/w" && fusermount3 -u -z "$T/w"
start_node u1 -o listen=127.0.0.1:$PU,unencrypted_links
start_node u2 -o peer=ws://127.0.0.1:$PU,unencrypted_links
check_ok "plain: link up" wait_for 10 links_up u2 1
check_field "plain: U2's end" u2 ws://127.0.0.1:$PU link plain
check_field "plain: U1's end" u1 "$(id_of u2)" link plain
mkdir -p "$T/u1/Doc/u1" && echo plain > "$T/u1/Doc/u1/f"
check_ok "plain: U1's write arrives" wait_for 10 file_is "$T/u2/Doc/u1/f" $'plain\n'
# A plain node to a TLS listener (P1), and a TLS node to a plain one (U1).
start_node u3 -o peer=ws://127.0.0.1:$PP,unencrypted_links
start_node u4 -o peer=wss://127.0.0.1:$PU
mkdir -p "$T/u3/Spy/u3" "$T/u4/Spy/u4"
echo leaked > "$T/u3/Spy/u3/f"
echo leaked > "$T/u4/Spy/u4/f"
check_ok "plain to TLS: U3's link fails" wait_for 10 link_failed u3 ws://
check_ok "TLS to plain: U4's link fails" wait_for 10 link_failed u4 wss://
sleep 3   # a few reconnects (100, 200, 400, 800 ms ...)
echo "plain to TLS: U3 says [$(peer_field u3 ws:// error)]; TLS to plain: U4 says [$(peer_field u4 wss:// error)]"
check_eq "plain to TLS: U3's link never up" "$(stat_of u3 peers_up)" 0
check_eq "TLS to plain: U4's link never up" "$(stat_of u4 peers_up)" 0
check_eq "plain to TLS: P1 has no link" "$(stat_of p1 peers_up)" 0
check_eq "TLS to plain: U1 has one link only" "$(stat_of u1 peers_up)" 1
check_ok "plain to TLS: U3's write never on P1" test ! -e "$T/p1/Spy"
check_ok "TLS to plain: U4's write never on U1" test ! -e "$T/u1/Spy"
check_ok "U3 got nothing" test ! -e "$T/u3/Doc"
check_ok "U4 got nothing" test ! -e "$T/u4/Doc"
stop_nodes u4 u3 u2 u1 p1
lap "plain"

# --- secrecy: what a node sends, captured with strace on its sockets
# all_traced PID: every thread of PID has a tracer
all_traced() {
  local t
  for t in /proc/$1/task/*/status; do
    [ "$(awk '$1 == "TracerPid:" { print $2 }' "$t")" != 0 ] || return 1
  done
}
# capture_pair NAME PORT WANT OPTS: NAME-l listens, NAME-r peers it; a
# random value written on NAME-l reaches NAME-r while NAME-l's writes are
# captured into $T/NAME.trace. Prints the value.
VALUE=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
capture_pair() {
  local n=$1 port=$2 scheme=$3 extra=$4 pid
  start_node "$n-l" -o listen=127.0.0.1:$port$extra
  start_node "$n-r" -o peer=$scheme://127.0.0.1:$port$extra
  check_ok "$n: link up" wait_for 10 links_up "$n-r" 1
  strace -f -yy -e trace=write,sendto,sendmsg,writev -s 100000 -o "$T/$n.trace" \
    -p "${NODE_PID[$n-l]}" 2>"$T/$n.strace.err" &
  pid=$!
  track_pid $pid
  check_ok "$n: strace attached" wait_for 10 all_traced "${NODE_PID[$n-l]}"
  mkdir -p "$T/$n-l/Doc/s"
  echo "$VALUE" > "$T/$n-l/Doc/s/v"
  check_ok "$n: the value arrives" wait_for 10 file_is "$T/$n-r/Doc/s/v" "$VALUE"$'\n'
  sleep 0.2
  kill "$pid"
  wait "$pid" 2>/dev/null
  grep '<TCP' "$T/$n.trace" > "$T/$n.sock"
}
capture_pair tls "$PS" wss ""
capture_pair plain "$PS2" ws ",unencrypted_links"
check_ok "the capture saw the TLS link's writes" test "$(wc -l < "$T/tls.sock")" -gt 0
check_ok "the capture saw the plain link's writes" test "$(wc -l < "$T/plain.sock")" -gt 0
check_eq "TLS: the value is not in what the node sent" "$(grep -c "$VALUE" "$T/tls.sock")" 0
check_ok "plain: the value is in what the node sent (so the capture would see it)" \
  grep -q "$VALUE" "$T/plain.sock"
check_ok "TLS: the node wrote the value somewhere (its store), not to a socket" \
  grep -q "$VALUE" "$T/tls.trace"
stop_nodes plain-r plain-l tls-r tls-l
lap "secrecy"

# --- 200 idle TCP connections that never start TLS
start_node i1 -o listen=127.0.0.1:$PI
IDLE=200
# The connections, held by a helper shell of their own (not inherited by
# the nodes started later).
bash -c '
  [ "$(ulimit -n)" -ge $(('"$IDLE"' + 20)) ] || ulimit -n $(('"$IDLE"' + 64)) || exit 3
  for i in $(seq 1 '"$IDLE"'); do exec {fd}<>/dev/tcp/127.0.0.1/'"$PI"' || exit 4; done
  echo opened > "'"$T"'/idle.opened"
  exec sleep 120' 2>"$T/idle.err" &
IDLE_PID=$!
track_pid $IDLE_PID
# idle_open: connections from the helper still ESTABLISHED to i1's port
idle_open() {
  ss -Htnp state established "dport = :$PI" 2>/dev/null | grep -c "pid=$IDLE_PID,"
}
# idle_open_is OP N: test "$(idle_open)" OP N, evaluated anew each time
idle_open_is() { [ "$(idle_open)" "$1" "$2" ]; }
check_ok "idle connections opened" wait_for 10 test -e "$T/idle.opened"
[ -e "$T/idle.opened" ] || echo "helper: $(cat "$T/idle.err")"
# Past 8 pending connections from one network, each new one closes the oldest.
check_ok "I1 keeps at most 8 of them" wait_for 10 idle_open_is -le 8
over=$(stat_of i1 connections_over_limit)
check_ok "and counts the others as over the limit ($over)" test "${over:-0}" -ge $((IDLE - 8))
t0=${EPOCHREALTIME/./}
start_node i2 -o peer=wss://127.0.0.1:$PI
check_ok "a real peer links after them" wait_for 10 links_up i2 1
mkdir -p "$T/i1/Doc/i" && echo through > "$T/i1/Doc/i/f"
check_ok "and syncs" wait_for 10 file_is "$T/i2/Doc/i/f" $'through\n'
echo "time: peer linked and synced after $IDLE idle connections in $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
check_field "I2's link is TLS" i2 wss:// link TLSv1.3
check_ok "I1 closes the rest by its set-up deadline" wait_for 15 idle_open_is -eq 0
echo "time: idle connections closed $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after the peer started"
kill "$IDLE_PID"
check_eq "the real link survived" "$(stat_of i1 peers_up)" 1
echo again > "$T/i1/Doc/i/f"
check_ok "and still syncs" wait_for 10 file_is "$T/i2/Doc/i/f" $'again\n'
stop_nodes i2 i1
lap "idle connections"

stop_nodes c b a
echo "time: repl_tls $(((${EPOCHREALTIME/./} - t_case) / 1000)) ms"
finish
