# SPDX-License-Identifier: MIT
# cli.sh - the command line: help, version, bad options, one mount per state
# directory, clean unmount, daemon mode.
. "$(dirname "$0")/../lib.sh"

out=$("$DINEMICFS" --help)
check_eq "--help exits 0" $? 0
for o in max_value sync log_level ro; do
  check_eq "--help lists $o" "$(printf '%s\n' "$out" | grep -c -- "-o $o")" 1
done
check_eq "--version" "$("$DINEMICFS" --version | head -n 1 | cut -d' ' -f1)" dinemicfs

mkdir -p "$T/m"
exit_code() { "$@" >/dev/null 2>&1; echo $?; }
check_eq "unknown option exits 2" "$(exit_code "$DINEMICFS" -f -o nosuchoption "$T/s" "$T/m")" 2
check_fails "unknown option message" "option" "$DINEMICFS" -f -o nosuchoption "$T/s" "$T/m"
check_ok "a usage error leaves no state dir" test ! -e "$T/s"
check_eq "bad value exits 2" "$(exit_code "$DINEMICFS" -o sync=maybe "$T/s" "$T/m")" 2
check_fails "bad value message" "sync must be strict or relaxed" \
  "$DINEMICFS" -o sync=maybe "$T/s" "$T/m"
check_eq "bad size exits 2" "$(exit_code "$DINEMICFS" -o max_value=lots "$T/s" "$T/m")" 2
check_eq "missing mountpoint exits 2" "$(exit_code "$DINEMICFS" "$T/s")" 2
check_eq "extra argument exits 2" "$(exit_code "$DINEMICFS" "$T/s" "$T/m" extra)" 2

# first use creates the state directory with private keys
start_node a
check_eq "state dir mode" "$(stat -c %a "$T/a.state")" 700
check_eq "node key mode" "$(stat -c %a "$T/a.state/node.key")" 600
mkdir -p "$T/a/P/o"
check_eq "object key mode" "$(stat -c %a "$T/a.state/keys/$(cat "$T/a/P/o/.owner").key")" 600
check_eq "node id" "$(grep -cE '^[0-9a-f]{64}$' "$T/a/.node/id")" 1

# a second mount of the same state directory is refused
mkdir -p "$T/b"
NODES+=(b) # unmounted by the cleanup should a second mount ever succeed
check_fails "second mount refused" "already in use" timeout 10 "$DINEMICFS" -f "$T/a.state" "$T/b"
check_eq "second mount exits 1" "$(exit_code timeout 10 "$DINEMICFS" -f "$T/a.state" "$T/b")" 1
check_ok "first mount still serves" test -d "$T/a/P/o"
id=$(cat "$T/a/.node/id")
stop_node a

# daemon mode: returns once mounted; fusermount3 -u ends it
check_ok "daemon start" "$DINEMICFS" "$T/a.state" "$T/a"
check_ok "daemon mounted" mountpoint -q "$T/a"
pid=$(head -n 1 "$T/a.state/lock")
NODES+=(d)
check_eq "same identity" "$(cat "$T/a/.node/id")" "$id"
check_ok "daemon unmount" fusermount3 -u "$T/a"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check_fails "daemon exited" "" kill -0 "$pid"

# unmounted while an after-listener still runs, the old daemon is stopping:
# a new mount of the same state directory waits for it instead of failing
start_node a
printf '#!/bin/sh\nsleep 2\ntouch "%s/listened"\n' "$T" >"$T/a/.actions/on_updated"
chmod +x "$T/a/.actions/on_updated"
mkdir -p "$T/a/P/q" && echo x >"$T/a/P/q/f"
old=${NODE_PID[a]}
check_ok "unmount" fusermount3 -u "$T/a"
check_ok "the old daemon is still stopping" kill -0 "$old"
check_ok "its lock says so" wait_for 5 sh -c "[ \"\$(sed -n 2p '$T/a.state/lock')\" = stopping ]"
start_node a
check_ok "the old daemon's listener finished first" test -e "$T/listened"
check_ok "the old daemon ends" wait_for 10 proc_ended "$old"
wait "$old" 2>/dev/null
rm -f "$T/a/.actions/on_updated"
check_eq "the lock names the new daemon" "$(cat "$T/a.state/lock")" "${NODE_PID[a]}"
check_eq "the new daemon serves" "$(cat "$T/a/P/q/f")" x

# stopped by a signal while a file it created is still open: the kernel never
# sends that file's release, and the daemon commits it on the way out
exec 3>"$T/a/P/q/new"
check_ok "stopped by SIGTERM" kill -TERM "${NODE_PID[a]}"
check_ok "the daemon ends with the file open" wait_for 10 proc_ended "${NODE_PID[a]}"
wait "${NODE_PID[a]}"
check_eq "it exits 0" "$?" 0
exec 3>&-
is_mounted "$T/a" && fusermount3 -u -z "$T/a"
start_node a
check_eq "the file it had open was kept" "$(ls "$T/a/P/q")" "$(printf 'f\nnew')"
stop_node a
check_eq "the lock is emptied when the daemon ends" "$(cat "$T/a.state/lock")" ""

# a "stopping" line whose pid is gone is not waited for: the lock's holder
# is something else (here flock(1)), and the mount is refused at once
sh -c 'exit 0' &
dead=$!
wait "$dead"
printf '%s\nstopping\n' "$dead" >"$T/a.state/lock"
(
  exec 9>>"$T/a.state/lock"
  flock -x 9
  exec sleep 30
) >/dev/null 2>&1 &
holder=$!
track_pid "$holder"
check_ok "the lock is held" wait_for 5 sh -c "! flock -n '$T/a.state/lock' true"
t0=$(date +%s)
check_fails "refused while another holds the lock" "already in use" \
  timeout 20 "$DINEMICFS" -f "$T/a.state" "$T/b"
check_ok "refused at once, not after waiting" test $(($(date +%s) - t0)) -lt 5
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
finish
