# SPDX-License-Identifier: MIT
# stats.sh - .node/stats counters move as expected between two linked nodes
# (applied, relayed, rejected, held, dropped, bytes, peers, refused peers,
# connections over the handshake limit, last error),
# `dinemicfs status` prints them for people, and a daemonized node logs to
# syslog and leaves the terminal alone.
. "$(dirname "$0")/../lib.sh"
: "${WSPROBE:=$(dirname "$DINEMICFS")/../tests/e2e/wsprobe}"

P=$(port_base 2)
# A writes; B listens, A connects out to it (so A keeps a row for B when B stops).
start_node b -o listen=127.0.0.1:$((P + 1))
start_node a -o listen=127.0.0.1:$P,peer=wss://127.0.0.1:$((P + 1))
A=$T/a B=$T/b
check_ok "A's link up" wait_for 10 links_up a 1
check_ok "B's link up" wait_for 10 links_up b 1

# Every documented key is there, once.
keys="node_id pid uptime_seconds sync updates_stored log_head updates_applied updates_refused
  corrupt_records store_bytes updates_applied_local updates_applied_remote updates_rejected
  updates_held updates_dropped peers_configured peers_up updates_received updates_sent
  updates_relayed updates_waiting updates_waiting_bytes updates_waiting_dropped
  updates_waiting_clock updates_waiting_clock_dropped links_paused bytes_in bytes_out frames_dropped peers_refused
  connections_over_limit listener_queue_jobs listener_queue_bytes listener_queue_full
  keys_missing_cached keys_missing_forgotten
  errors_logged last_error"
for k in $keys; do
  check_eq "key $k" "$(grep -c "^$k " "$A/.node/stats")" 1
done
check_eq "keys are lowercase words with underscores" \
  "$(grep -cvE '^[a-z_]+ ' "$A/.node/stats")" 0
check_eq "node_id is .node/id" "$(stat_of a node_id)" "$(cat "$A/.node/id")"
check_eq "log_head is updates_stored" "$(stat_of a log_head)" "$(stat_of a updates_stored)"
check_eq "pid is the daemon's" "$(stat_of a pid)" "${NODE_PID[a]}"
check_eq "A has one peer configured" "$(stat_of a peers_configured)" 1
check_eq "B has none configured" "$(stat_of b peers_configured)" 0
check_eq "A: peers_up" "$(stat_of a peers_up)" 1
check_eq "B: peers_up" "$(stat_of b peers_up)" 1
check_eq "no error yet" "$(stat_of a last_error)" "-"
check_eq "no error counted" "$(stat_of a errors_logged)" 0
for n in a b; do
  check_eq "$n: no peer refused" "$(stat_of $n peers_refused)" 0
  check_eq "$n: no connection over the limit" "$(stat_of $n connections_over_limit)" 0
done

# snap NODE: remembers every counter of NODE in S_NODE_KEY
snap() {
  local k v
  while read -r k v; do
    [[ $v =~ ^[0-9]+$ ]] && printf -v "S_$1_$k" %s "$v"
  done < "$T/$1/.node/stats"
}
# delta NODE KEY: how much KEY grew since the last snap
delta() {
  local was="S_$1_$2"
  echo $(( $(stat_of "$1" "$2") - ${!was} ))
}
delta_is() { [ "$(delta "$1" "$2")" -eq "$3" ]; }
# moved WHAT NODE KEY DELTA: KEY grew by exactly DELTA since the last snap
# (counters of an update move once it is durable: allow them a moment)
moved() {
  wait_for 5 delta_is "$2" "$3" "$4"
  check_eq "$1" "$(delta "$2" "$3")" "$4"
}
# check_match WHAT STRING REGEX
check_match() {
  if [[ $2 =~ $3 ]]; then pass; else fail "$1: [$2] does not match /$3/"; fi
}
# grew WHAT NODE KEY: KEY grew since the last snap
grew() {
  local was="S_$2_$3" now
  now=$(stat_of "$2" "$3")
  if [ "$now" -gt "${!was}" ]; then pass; else fail "$1: $3 stayed at $now"; fi
}

# Seven updates on A: a model, an object, five writes.
snap a
snap b
mkdir -p "$A/Stat/o"
for i in 1 2 3 4 5; do echo "v$i" > "$A/Stat/o/f"; done
check_ok "B has them" wait_for 10 file_is "$B/Stat/o/f" $'v5\n'
moved "A applied 7" a updates_applied 7
moved "A applied 7 local" a updates_applied_local 7
moved "A applied none remote" a updates_applied_remote 0
moved "A stored 7" a updates_stored 7
moved "A relayed 7 (sent to its one peer)" a updates_relayed 7
moved "A's updates_sent agrees" a updates_sent 7
grew "A's bytes_out" a bytes_out
moved "B applied 7" b updates_applied 7
moved "B applied 7 remote" b updates_applied_remote 7
moved "B applied none local" b updates_applied_local 0
moved "B received 7" b updates_received 7
grew "B's bytes_in" b bytes_in
for n in a b; do
  moved "$n rejected nothing" $n updates_rejected 0
  moved "$n dropped nothing" $n updates_dropped 0
done

# A local write a listener rejects: EPERM, counted as rejected, nothing stored.
mkdir -p "$A/.actions/Stat" "$B/.actions/Stat"
printf '#!/bin/sh\n[ "$(cat)" != bad ] || { echo "no bad values" >&2; exit 1; }\n' \
  > "$A/.actions/Stat/on_update.nobad"
chmod +x "$A/.actions/Stat/on_update.nobad"
snap a
check_fails "the listener rejects" "Operation not permitted" bash -c "echo bad > '$A/Stat/o/f'"
moved "A: rejected +1" a updates_rejected 1
moved "A: nothing held (a local change)" a updates_held 0
moved "A: nothing applied" a updates_applied 0
moved "A: nothing stored" a updates_stored 0

# A remote update B's listener rejects: held on B (stored, relayed, not applied).
printf '#!/bin/sh\n[ "$(cat)" != held ] || { echo "B holds it" >&2; exit 1; }\n' \
  > "$B/.actions/Stat/on_update.nohold"
chmod +x "$B/.actions/Stat/on_update.nohold"
snap a
snap b
echo held > "$A/Stat/o/f"
check_ok "B holds it" wait_for 10 delta_is b updates_held 1
check_file "B kept the old value" "$B/Stat/o/f" $'v5\n'
moved "B: stored +1" b updates_stored 1
moved "B: rejected +1" b updates_rejected 1
moved "B: refused +1" b updates_refused 1
moved "B: nothing applied" b updates_applied 0
moved "A: applied +1" a updates_applied_local 1
moved "A: rejected nothing" a updates_rejected 0

# Forged and undecodable updates from a hostile peer: dropped.
if [ -x "$WSPROBE" ]; then
  snap a
  if timeout 60 "$WSPROBE" $P handshake forged Stat evil badrecord Stat broken open \
    > "$T/probe.out" 2>&1; then pass; else fail "wsprobe: $(tr '\n' ';' < "$T/probe.out")"; fi
  moved "A: dropped +2" a updates_dropped 2
  moved "A: frames_dropped +2" a frames_dropped 2
  moved "A: nothing held" a updates_held 0
  moved "A: the probe was admitted (open), not refused" a peers_refused 0
  check_fails "no forged object" "No such file" ls "$A/Stat/evil"

  # Refused peers: an upgrade with an Origin header, a plain client.
  snap a
  for o in --origin --plain; do
    if timeout 60 "$WSPROBE" $o $P refused > "$T/probe$o.out" 2>&1; then pass; else
      fail "wsprobe $o refused: $(tr '\n' ';' < "$T/probe$o.out")"
    fi
  done
  moved "A: peers_refused +2 (the Origin, and the plain client, told it is TLS only)" \
    a peers_refused 2
  moved "A: connections_over_limit +0" a connections_over_limit 0

  # At most 8 connections from one network in their handshake: a 9th closes
  # the oldest of them (counted as over the limit) and gets in itself.
  snap a
  for i in 1 2 3 4 5 6 7 8; do
    timeout 60 "$WSPROBE" $P sleep 4000 > "$T/pending$i.out" 2>&1 &
    track_pid $!
  done
  pending_is() { [ "$(grep -cE '\(in\) +handshake ' "$A/.node/peers")" -eq "$1" ]; }
  check_ok "A: eight inbound connections in their handshake" wait_for 10 pending_is 8
  if timeout 60 "$WSPROBE" $P handshake open > "$T/ninth.out" 2>&1; then pass; else
    fail "the ninth connection: $(tr '\n' ';' < "$T/ninth.out")"
  fi
  moved "A: connections_over_limit +1" a connections_over_limit 1
  moved "A: that is not a refused peer" a peers_refused 0
  check_ok "A: the oldest of the eight was closed for it" wait_for 10 pending_is 7
  for p in "${HELPER_PIDS[@]}"; do wait "$p"; done
  no_pending() { ! grep -qE '\(in\) +handshake ' "$A/.node/peers"; }
  check_ok "the eight are gone" wait_for 10 no_pending
  if timeout 60 "$WSPROBE" $P handshake open > "$T/tenth.out" 2>&1; then pass; else
    fail "a connection after them: $(tr '\n' ';' < "$T/tenth.out")"
  fi
else
  echo "no wsprobe: dropped updates not checked"
fi

# An error-level line: a copy of A's object key in B's keys/ that others may
# read is refused, and logged as an error when B looks for that key.
owner=$(cat "$A/Stat/o/.owner")
check_eq "B: no error yet" "$(stat_of b last_error)" "-"
cp "$T/a.state/keys/$owner.key" "$T/open.key"
chmod 644 "$T/open.key"
mv "$T/open.key" "$T/b.state/keys/$owner.key"
# B looks at keys/ at most once a second, when asked for a key it lacks (ls -l).
b_error() { ls -l "$B/Stat/o" >/dev/null; [ "$(stat_of b errors_logged)" -gt 0 ]; }
check_ok "B logged an error" wait_for 10 b_error
check_eq "one error" "$(stat_of b errors_logged)" 1
last=$(sed -n 's/^last_error //p' "$B/.node/stats")
check_match "last_error: its time, then the line" "$last" \
  "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z error \[[^]]+\] .*/$owner\.key: key file is accessible by others"
check_eq "last_error is .node/log's last error line" "$last" \
  "$(grep -E '^[^ ]+ error ' "$B/.node/log" | tail -n 1)"
check_eq "A's last_error unchanged" "$(stat_of a last_error)" "-"

# dinemicfs status: the node id, one row for B, up. A daemon without the
# command would take "status" for a state directory and mount on the next
# argument: make sure it is there first.
if ! "$DINEMICFS" status --help 2>/dev/null | grep -q '^usage: dinemicfs status MOUNTPOINT'; then
  fail "no dinemicfs status command"
  finish
fi
status_out=$("$DINEMICFS" status "$A")
check_eq "status exits 0" $? 0
printf '%s\n' "$status_out" > "$T/status.out"
check_ok "status names the node" grep -qx "node  *$(cat "$A/.node/id")" "$T/status.out"
check_ok "status shows the pid" grep -qx "pid  *${NODE_PID[a]}" "$T/status.out"
check_ok "status shows the updates" grep -qE "^updates  +[0-9]+ stored, [0-9]+ applied" "$T/status.out"
check_ok "status has a peer table" grep -qE "^PEER +STATE +NODE +LAST CONTACT +LAG +LINK +ERROR$" \
  "$T/status.out"
b_short=$(head -c 16 "$B/.node/id")
check_eq "one row for B, up" \
  "$(grep -cE "^wss://127\.0\.0\.1:$((P + 1)) +up +$b_short +[0-9]+ s ago +" "$T/status.out")" 1
in_sync() { "$DINEMICFS" status "$A" | grep -qE "^wss://.* up .* in sync +TLSv1\.3, open +- *$"; }
check_ok "the row says in sync" wait_for 5 in_sync

exit_code() { "$@" >/dev/null 2>&1; echo $?; }
check_eq "status of /tmp exits 1" "$(exit_code "$DINEMICFS" status /tmp)" 1
check_fails "status of /tmp says why" "not a dinemicfs mount" "$DINEMICFS" status /tmp
check_eq "status of a missing dir exits 1" "$(exit_code "$DINEMICFS" status "$T/nothere")" 1
check_eq "status without MOUNTPOINT exits 2" "$(exit_code "$DINEMICFS" status)" 2
check_eq "status with two exits 2" "$(exit_code "$DINEMICFS" status "$A" "$B")" 2
check_eq "status with a bad option exits 2" "$(exit_code "$DINEMICFS" status -x "$A")" 2

# B stops: A's link goes down.
stop_node b
a_alone() { [ "$(stat_of a peers_up)" -eq 0 ]; }
check_ok "A: peers_up 0" wait_for 10 a_alone
check_eq "A still has its peer configured" "$(stat_of a peers_configured)" 1
check_ok "status shows B's row not up" \
  bash -c "'$DINEMICFS' status '$A' | grep -qE '^wss://127\.0\.0\.1:$((P + 1)) +(down|connecting) '"
check_ok "status says 0 of 1 up" bash -c "'$DINEMICFS' status '$A' | grep -qE '^peers +0 of 1 link up'"
stop_node a

# A daemonized node: returns once mounted, writes nothing to the terminal,
# works, and is found (to stop it) by its pid in .node/stats.
mkdir -p "$T/d"
NODES+=(d)
"$DINEMICFS" -o log_level=info "$T/d.state" "$T/d" > "$T/d.term" 2>&1 < /dev/null
check_eq "daemon start exits 0" $? 0
check_eq "nothing on the terminal" "$(cat "$T/d.term")" ""
NODE_PID[d]=$(stat_of d pid)
check_ok "the daemon runs" kill -0 "${NODE_PID[d]}"
mkdir -p "$T/d/Stat/o" && echo x > "$T/d/Stat/o/f"
check_file "the daemon serves" "$T/d/Stat/o/f" $'x\n'
check_eq "the daemon counts" "$(stat_of d updates_applied_local)" 3
check_ok "daemon unmount" fusermount3 -u "$T/d"
check_ok "the daemon exits" wait_for 5 proc_ended "${NODE_PID[d]}"
NODE_PID[d]=

# Its log lines go to syslog (ident dinemicfs, facility daemon), libfuse's
# too. Checked where /dev/log can be faked: as root, in a mount namespace of
# its own with a private /dev, a datagram socket there records them.
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! command -v python3 >/dev/null; then
  echo "not root, or no unshare or python3: syslog lines not checked"
  finish
fi
cat > "$T/syslog.sh" <<'SH'
# syslog.sh T DINEMICFS: in a private mount namespace with a private /dev
T=$1 DINEMICFS=$2
pid=
trap '[ -n "$pid" ] && { fusermount3 -u -z "$T/s" 2>/dev/null; kill -9 "$pid" 2>/dev/null; }
      [ -n "${py:-}" ] && kill "$py" 2>/dev/null' EXIT
mkdir -p "$T/olddev" "$T/s"
mount --bind /dev "$T/olddev" && mount -t tmpfs -o mode=755 devtmp /dev || exit 3
for f in fuse null zero urandom random full; do
  touch "/dev/$f" && mount --bind "$T/olddev/$f" "/dev/$f" || exit 3
done
ln -s /proc/self/fd /dev/fd
python3 - "$T" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
open(sys.argv[1] + "/syslog.ready", "w").close()
with open(sys.argv[1] + "/syslog", "ab", 0) as out:
    while True:
        out.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
PY
py=$!
for i in $(seq 1 100); do [ -e "$T/syslog.ready" ] && break; sleep 0.05; done
[ -e "$T/syslog.ready" ] || exit 3
"$DINEMICFS" "$T/s.state" "$T/s" > "$T/s.term" 2>&1 < /dev/null || exit 1
pid=$(awk '$1 == "pid" { print $2 }' "$T/s/.node/stats")
mkdir -p "$T/s/Stat/o" && echo x > "$T/s/Stat/o/f" || exit 1
echo "served $(cat "$T/s/Stat/o/f")"
fusermount3 -u "$T/s" || exit 1
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
echo "pid $pid"
pid=
# a libfuse message: an unknown mount option, told on the terminal and in syslog
"$DINEMICFS" -o nosuchoption "$T/s.state" "$T/s" > "$T/bad.term" 2>&1 < /dev/null
echo "bad option exit $?"
sleep 0.2
SH
out=$(timeout 60 unshare -m --propagation private bash "$T/syslog.sh" "$T" "$DINEMICFS" 2>&1)
rc=$?
if [ $rc -eq 3 ]; then
  echo "cannot fake /dev/log here: syslog lines not checked ($out)"
  finish
fi
check_eq "the syslog run" "$rc" 0
check_ok "the daemon served there" grep -qx "served x" <<< "$out"
spid=$(sed -n 's/^pid //p' <<< "$out")
check_eq "nothing on its terminal" "$(cat "$T/s.term")" ""
# <29>: facility daemon (3 << 3) + notice (5)
check_ok "syslog: mounted, as dinemicfs[pid], daemon.notice" \
  grep -qE "^<29>.* dinemicfs\[$spid\]: \[[^]]*node\.c:[0-9]+\] mounted $T/s.state on $T/s$" "$T/syslog"
check_ok "syslog: unmounting" grep -qE "^<29>.* dinemicfs\[$spid\]: .*unmounting $T/s$" "$T/syslog"
check_ok "bad option exits 2" grep -qx "bad option exit 2" <<< "$out"
# <27>: daemon.err; libfuse's own message, through the bridge
check_ok "syslog: libfuse's message" grep -qE "^<27>.* dinemicfs\[[0-9]+\]: \[libfuse:0\] .*unknown option" \
  "$T/syslog"
check_ok "the terminal got it too" grep -q "unknown option" "$T/bad.term"
finish
