# SPDX-License-Identifier: MIT
# lazyunmount.sh - a node repeats remote changes through its mount (so that
# watchers see them) only while the mount point is still its mount. After a
# lazy unmount the path names the directory beneath, which anyone who can
# write there may fill with symlinks: the node must not create anything
# through them (it runs as root). The detached mount, kept alive by a
# process inside it, still gets every change.
. "$(dirname "$0")/../lib.sh"

head -c 32 /dev/urandom > "$T/netkey"
chmod 600 "$T/netkey"
P=$(port_base 1)
start_node a -o network_key="$T/netkey",listen=127.0.0.1:$P
start_node b -o network_key="$T/netkey",peer=wss://127.0.0.1:$P
mkdir -p "$T/a/Person/o1"
wait_for 10 test -d "$T/b/Person/o1" || fail "B never got Person/o1"

# A process inside B's mount keeps it served after the lazy unmount.
(cd "$T/b/Person" && exec sleep 600) &
holder=$!
track_pid "$holder"
wait_for 5 test -d "/proc/$holder/cwd/o1" || fail "the holder is not in B's mount"
fusermount3 -u -z "$T/b" || fail "lazy unmount of B"
mkdir -p "$T/victim"
ln -s "$T/victim" "$T/b/Person"

mkdir "$T/a/Person/o2"
echo v > "$T/a/Person/o2/f"
mkdir "$T/a/Person/o2/d"
echo k > "$T/a/Person/o2/d/k"
wait_for 10 test -e "/proc/$holder/cwd/o2/d/k" || fail "B never got Person/o2"
check_eq "the detached mount shows the remote value" "$(cat "/proc/$holder/cwd/o2/f")" v
# The mirror repeats a change after applying it: give it time to (not) act.
sleep 1
check_eq "nothing was made through the planted symlink" "$(ls -A "$T/victim")" ""

kill "$holder"
wait "$holder" 2>/dev/null
wait_for 10 proc_ended "${NODE_PID[b]}" || fail "B still runs with its mount gone"
finish
