# SPDX-License-Identifier: MIT
# coredump.sh - a node holds its keys, the network key and clear values of
# encrypted fields, so it is not dumpable: killed by a signal that dumps
# core, it leaves no core file, where a dumpable process killed the same way
# in the same kind of place leaves one (so this case can tell).
. "$(dirname "$0")/../lib.sh"

pattern=$(cat /proc/sys/kernel/core_pattern)
case "$pattern" in
  core | core.%p | core.%e.%p) ;;
  *) skip "core_pattern is '$pattern': cores do not go to the process's directory" ;;
esac
ulimit -c unlimited 2>/dev/null || skip "cannot raise the core size limit"
mkdir -p "$T/ctl" "$T/cwd"

# The control: a dumpable process dumps core in its directory.
(cd "$T/ctl" && exec sleep 30) &
ctl=$!
track_pid "$ctl"
sleep 0.2
kill -SEGV "$ctl"
wait "$ctl" 2>/dev/null
ls "$T/ctl" | grep -q '^core' || skip "no core file from a dumpable process here"

head -c 32 /dev/urandom > "$T/netkey"
chmod 600 "$T/netkey"
cd "$T/cwd"
start_node n -o network_key="$T/netkey"
cd "$T"
M=$T/n
mkdir -p "$M/Person/bob"
echo salary > "$M/Person/.encrypted"
echo 'top secret' > "$M/Person/bob/salary"
check_eq "the node reads its encrypted field" "$(cat "$M/Person/bob/salary")" "top secret"
pid=${NODE_PID[n]}
kill -SEGV "$pid"
wait_for 5 proc_ended "$pid"
wait "$pid" 2>/dev/null
NODE_PID[n]=
check_ok "killed by SIGSEGV, the node left no core file" \
  bash -c "! ls '$T/cwd' | grep -q '^core'"
fusermount3 -u -z "$M" 2>/dev/null
finish
