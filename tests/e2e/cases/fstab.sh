# SPDX-License-Identifier: MIT
# fstab.sh - mounting through mount(8) and mount.fuse3(8), as /etc/fstab does:
# `mount -t fuse.dinemicfs STATE_DIR MOUNTPOINT -o ...` and a line
# `STATE_DIR MOUNTPOINT fuse.dinemicfs listen=...,peer=...,_netdev 0 0` in an
# fstab file (mount -T FILE MOUNTPOINT; /etc/fstab is not touched). mount
# must return once the node is up, leaving a proper daemon; umount must end
# it. Needs root and mount.fuse3 (skipped otherwise).
#
# mount(8) runs helpers without PATH, so mount.fuse3 finds `dinemicfs` in
# /bin/sh's default PATH only. The case runs in a private mount namespace
# and bind-mounts a directory holding `dinemicfs` (the binary under test)
# over /usr/local/sbin, the first directory of that PATH; nothing changes
# outside the namespace. Without namespaces it calls mount.fuse3 directly,
# with the directory first in PATH.

if [ -z "${DFS_FSTAB_NS:-}" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null &&
   unshare -m --propagation private true 2>/dev/null; then
  DFS_FSTAB_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || skip "mount(8) of a FUSE filesystem needs root here"
MOUNT_FUSE=$(PATH=$PATH:/usr/sbin:/sbin command -v mount.fuse3) || skip "no mount.fuse3"
command -v mount >/dev/null && command -v umount >/dev/null || skip "no mount(8)"

bin=$(realpath "$DINEMICFS")
mkdir -p "$T/bin"
ln -s "$bin" "$T/bin/dinemicfs"
in_ns=0
if [ -n "${DFS_FSTAB_NS:-}" ] && mount --bind "$T/bin" /usr/local/sbin 2>/dev/null; then
  in_ns=1
else
  echo "note: no private mount namespace; calling mount.fuse3 directly (the fstab file is not tested)"
fi

port=$(port_base 2)
PA=$port
PB=$((port + 1))

# mounted_by NAME: the daemon of the mount $T/NAME (from its lock file) is a
# proper daemon running the binary under test; it is recorded for cleanup.
mounted_by() {
  local n=$1 pid
  [[ " ${NODES[*]} " == *" $n "* ]] || NODES+=("$n")
  if ! is_mounted "$T/$n"; then
    fail "$n: not mounted after mount returned"
    return 1
  fi
  pid=$(head -n 1 "$T/$n.state/lock" 2>/dev/null)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    fail "$n: no daemon running (lock file says [$pid])"
    return 1
  fi
  NODE_PID[$n]=$pid
  check_eq "$n: the daemon runs the binary under test" "$(readlink "/proc/$pid/exe")" "$bin"
  check_eq "$n: the daemon leads its own session" "$(ps -o sid= -p "$pid" | tr -d ' ')" "$pid"
  if [ "$(ps -o ppid= -p "$pid" | tr -d ' ')" != $$ ]; then pass; else
    fail "$n: the daemon is a child of the test shell"
  fi
  check_eq "$n: the daemon's stdin, stdout, stderr" \
    "$(readlink "/proc/$pid/fd/0") $(readlink "/proc/$pid/fd/1") $(readlink "/proc/$pid/fd/2")" \
    "/dev/null /dev/null /dev/null"
  check_eq "$n: the daemon's cwd" "$(readlink "/proc/$pid/cwd")" /
}

# unmounted NAME: after umount, the daemon exits by itself and the mount is gone
unmounted() {
  local n=$1 pid=${NODE_PID[$1]}
  if umount "$T/$n" 2>"$T/umount.err"; then pass; else
    fail "umount $n: $(cat "$T/umount.err")"
  fi
  if wait_for 10 proc_ended "$pid"; then
    pass
    NODE_PID[$n]=
  else
    fail "$n: daemon $pid still running 10 s after umount"
  fi
  if is_mounted "$T/$n"; then fail "$n: still mounted after umount"; else pass; fi
}

# mount_fs NAME OPTIONS: mounts $T/NAME from $T/NAME.state as fuse.dinemicfs
mount_fs() {
  local n=$1 o=$2
  mkdir -p "$T/$n"
  if [ $in_ns -eq 1 ]; then
    mount -t fuse.dinemicfs "$T/$n.state" "$T/$n" -o "$o"
  else
    PATH="$T/bin:$PATH" "$MOUNT_FUSE" "$T/$n.state" "$T/$n" -t fuse.dinemicfs -o "$o"
  fi
}

# A bad option: mount fails, says why, and leaves nothing mounted or running.
out=$(mount_fs bad "sync=maybe,_netdev" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ "$out" == *"sync must be strict or relaxed"* ]]; then pass; else
  fail "mount with sync=maybe: status $rc, output [$out]"
fi
if is_mounted "$T/bad"; then fail "a failed mount left $T/bad mounted"; else pass; fi
[ -e "$T/bad.state" ] && fail "a usage error created the state directory"

# Node a: mount -t fuse.dinemicfs, options after the operands, with _netdev.
if mount_fs a "listen=127.0.0.1:$PA,_netdev" 2>"$T/a.mount.err"; then pass; else
  fail "mount -t fuse.dinemicfs a: $(cat "$T/a.mount.err")"
fi
mounted_by a || finish

# Node b: from an fstab line, with mount options mount(8) and mount.fuse3(8)
# consume (_netdev, nofail, x-systemd.*).
mkdir -p "$T/b"
b_opts="listen=127.0.0.1:$PB,peer=wss://127.0.0.1:$PA,_netdev,nofail,x-systemd.requires=network-online.target"
printf '# a test fstab\n%s %s fuse.dinemicfs %s 0 0\n' "$T/b.state" "$T/b" "$b_opts" >"$T/fstab"
if [ $in_ns -eq 1 ]; then
  if mount -T "$T/fstab" "$T/b" 2>"$T/b.mount.err"; then pass; else
    fail "mount -T fstab $T/b: $(cat "$T/b.mount.err")"
  fi
  # the fstab line is what mount.fuse3 was given
  check_eq "fstab line" "$(findmnt -F "$T/fstab" -n -o SOURCE,TARGET,FSTYPE "$T/b" | tr -s ' ')" \
    "$T/b.state $T/b fuse.dinemicfs"
else
  mount_fs b "$b_opts" 2>"$T/b.mount.err" || fail "mount.fuse3 b: $(cat "$T/b.mount.err")"
fi
mounted_by b || finish

# mount -a must see the fstab line as mounted, which libmount decides from
# the source and type in mountinfo: the daemon has to name itself
# (fsname=STATE_DIR, subtype=dinemicfs).
shown=$(awk -v d="$T/b" '$5 == d { for (i = 7; $i != "-"; i++); print $(i + 1), $(i + 2) }' \
  /proc/self/mountinfo)
if [ "$shown" == "fuse.dinemicfs $T/b.state" ]; then
  pass
  if [ $in_ns -eq 1 ]; then
    out=$(mount -a -T "$T/fstab" 2>&1)
    check_eq "mount -a with b mounted: status and output" "$? $out" "0 "
  fi
else
  fail "the mount shows as [$shown], not [fuse.dinemicfs $T/b.state]: mount -a would" \
    "start a second daemon on it"
fi

# The mounts work and replicate; each node lists the other's link as up.
check_ok "mkdir on a" mkdir -p "$T/a/Person/bob"
check_ok "write on a" sh -c "echo Bob > '$T/a/Person/bob/name'"
check_file "read on a" "$T/a/Person/bob/name" $'Bob\n'
wait_for 10 file_is "$T/b/Person/bob/name" $'Bob\n' || fail "a's write did not reach b"
check_ok "write on b" sh -c "mkdir -p '$T/b/Person/ann' && echo Ann > '$T/b/Person/ann/name'"
wait_for 10 file_is "$T/a/Person/ann/name" $'Ann\n' || fail "b's write did not reach a"
wait_for 10 links_up a 1 || fail "a's .node/peers: $(cat "$T/a/.node/peers")"
wait_for 10 links_up b 1 || fail "b's .node/peers: $(cat "$T/b/.node/peers")"
if grep -q "wss://127.0.0.1:$PA .*up" "$T/b/.node/peers"; then pass; else
  fail "b's .node/peers does not show its link to a's listen address: $(cat "$T/b/.node/peers")"
fi
if command -v ss >/dev/null; then
  if ss -Hltnp "sport = :$PA" | grep -q "pid=${NODE_PID[a]},"; then pass; else
    fail "a's daemon does not listen on 127.0.0.1:$PA: $(ss -Hltnp "sport = :$PA")"
  fi
fi
check_eq "a: one daemon for the state directory" \
  "$(pgrep -f -- "$T/a.state" | wc -l)" 1

# umount ends each daemon.
unmounted b
unmounted a

# Mounted again from the same state, the data is there (a clean stop).
if mount_fs a "listen=127.0.0.1:$PA" 2>"$T/a.mount.err"; then pass; else
  fail "mount a again: $(cat "$T/a.mount.err")"
fi
mounted_by a && check_file "a after a remount" "$T/a/Person/ann/name" $'Ann\n'
unmounted a
finish
