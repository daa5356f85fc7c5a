# SPDX-License-Identifier: MIT
# statedir.sh - a node trusts only a state directory that is its user's and
# that nobody else can change: another user's, or one writable by group or
# others, is refused before anything in it is read or run, and so are
# actions/ and keys/ open to anyone else (what is planted there would run,
# or sign, as the node). A new state directory and its actions/ are 0700.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to hand a directory to another user"
S=$T/s.state
M=$T/m
mkdir -p "$M"

# unmount: a daemon that mounted S (its pid in S/lock) is stopped, by PID
# too should it linger; cleanup kills it if this case dies first.
unmount() {
  local pid i
  mountpoint -q "$M" || return 0
  pid=$(head -n 1 "$S/lock" 2>/dev/null)
  [ -n "$pid" ] && track_pid "$pid"
  fusermount3 -u "$M"
  for i in $(seq 1 100); do
    [ -z "$pid" ] || proc_ended "$pid" && break
    sleep 0.05
  done
  [ -z "$pid" ] || proc_ended "$pid" || kill "$pid"
}
# mount_fails WHAT MESSAGE: the daemon refuses S, mounts nothing, runs nothing
mount_fails() {
  rm -f "$T/planted"
  check_fails "$1" "$2" timeout 20 "$DINEMICFS" "$S" "$M"
  check_ok "$1: nothing mounted" bash -c "! mountpoint -q '$M'"
  unmount
  check_ok "$1: no listener ran" test ! -e "$T/planted"
}
# mount_ok WHAT: the daemon mounts S; a write goes through; unmounted again
mount_ok() {
  check_ok "$1" timeout 20 "$DINEMICFS" "$S" "$M"
  if mountpoint -q "$M"; then
    mkdir -p "$M/P/o" && echo v > "$M/P/o/f"
    check_ok "$1: it works" test "$(cat "$M/P/o/f")" = v
  fi
  unmount
}

# A new one: made 0700, and so is actions/.
mount_ok "a new state directory"
check_eq "STATE_DIR is 0700" "$(stat -c %a "$S")" 700
check_eq "actions/ is 0700" "$(stat -c %a "$S/actions")" 700
check_eq "keys/ is 0700" "$(stat -c %a "$S/keys")" 700

# A listener planted by whoever could write there would run as the node.
printf '#!/bin/sh\ntouch %s/planted\n' "$T" > "$S/actions/on_update"
chmod +x "$S/actions/on_update"
chmod 777 "$S"
mount_fails "STATE_DIR writable by others" "chmod 700 $S"
chmod 770 "$S"
mount_fails "STATE_DIR writable by its group" "(mode 0770)"
chmod 755 "$S"
rm "$S/actions/on_update"
mount_ok "STATE_DIR readable by others, writable only by its user"
chmod 700 "$S"

chmod 755 "$S/actions"
mount_fails "actions/ open to others" "chmod 700 $S/actions"
chmod 700 "$S/actions"
chmod 750 "$S/keys"
mount_fails "keys/ open to its group" "chmod 700 $S/keys"
chmod 700 "$S/keys"

chown nobody "$S"
mount_fails "STATE_DIR of another user" "belongs to uid $(id -u nobody)"
chown "$(id -u)" "$S"
chown nobody "$S/actions"
mount_fails "actions/ of another user" "belongs to uid $(id -u nobody)"
chown "$(id -u)" "$S/actions"

mv "$S/keys" "$T/keys.real" && mkdir -m 700 "$T/elsewhere" && ln -s "$T/elsewhere" "$S/keys"
mount_fails "keys/ a symbolic link" "is not a directory"
rm "$S/keys" && mv "$T/keys.real" "$S/keys"

mount_ok "all put right"
finish
