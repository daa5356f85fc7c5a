# SPDX-License-Identifier: MIT
# run.sh - scripts/run, the README's first command: it builds, mounts a node
# on the mount point and state directory given, and puts `dinemicfs` on the
# PATH (a link to the build), so that the README's commands work by name.
# An installed dinemicfs that is no link is left alone.
. "$(dirname "$0")/../lib.sh"
: "${MESON_SOURCE_ROOT:?MESON_SOURCE_ROOT must name the source directory}"

M=$T/m
S=$T/s.state
B=$T/bin
mkdir -p "$B"
# stop_run: unmounts what scripts/run mounted and waits for its daemon (by PID)
stop_run() {
  local pid
  pid=$(head -n 1 "$S/lock" 2>/dev/null)
  [ -n "$pid" ] && track_pid "$pid"
  is_mounted "$M" && fusermount3 -u "$M"
  [ -z "$pid" ] || wait_for 10 proc_ended "$pid" || fail "the node outlived its unmount"
}

out=$(DINEMICFS_STATE=$S DINEMICFS_BINDIR=$B "$MESON_SOURCE_ROOT/scripts/run" "$M" 2>&1)
check_eq "scripts/run exits 0" "$?" 0
check_ok "it mounted the node" is_mounted "$M"
check_ok "it says where the command is" grep -qF "command: $B/dinemicfs" <<<"$out"
check_ok "it says how to put it on the PATH" grep -qF "export PATH=\"$B:" <<<"$out"
check_ok "dinemicfs is a link to the build" test -L "$B/dinemicfs"
check_ok "the README's commands work by name" \
  env PATH="$B:$PATH" bash -c 'dinemicfs --version | grep -q "^dinemicfs "'
check_eq "dinemicfs status by name reads the node" \
  "$(PATH="$B:$PATH" dinemicfs status "$M" 2>&1 | grep -c "$(cat "$M/.node/id" | cut -c1-16)")" 1
mkdir -p "$M/Person/bob"
echo Bob > "$M/Person/bob/name"
check_file "the node works" "$M/Person/bob/name" $'Bob\n'
stop_run

# An installed binary is not replaced by a link.
rm "$B/dinemicfs"
printf '#!/bin/sh\necho installed\n' > "$B/dinemicfs"
chmod 755 "$B/dinemicfs"
out=$(DINEMICFS_STATE=$S DINEMICFS_BINDIR=$B "$MESON_SOURCE_ROOT/scripts/run" "$M" 2>&1)
check_ok "it says it leaves an installed dinemicfs" grep -q "is installed (not a link" <<<"$out"
check_eq "the installed one stays" "$("$B/dinemicfs")" installed
check_file "the node kept its data" "$M/Person/bob/name" $'Bob\n'
stop_run
finish
