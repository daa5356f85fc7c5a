# SPDX-License-Identifier: MIT
# lib.sh - helpers for end-to-end cases: mount nodes, check results, clean up by PID.
#
# A case runs in its own temp dir ($T). Nodes are started in the foreground
# (-f) in the background of the shell, so their PIDs are known; the EXIT
# trap unmounts and kills every node started here, also when a check fails.

set -u

: "${DINEMICFS:?DINEMICFS must name the daemon binary}"
# Where the cases live, taken before a case changes directory.
CASES=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/dfs-e2e.XXXXXX)
NODES=()
declare -A NODE_PID
FAILS=0
CHECKS=0

cleanup() {
  local n
  for n in "${NODES[@]}"; do
    if [ "$FAILS" -gt 0 ] && [ -s "$T/$n.log" ]; then
      echo "--- log of node $n"
      cat "$T/$n.log"
    fi
    if mountpoint -q "$T/$n" 2>/dev/null; then
      fusermount3 -u -z "$T/$n" 2>/dev/null
    fi
    if [ -n "${NODE_PID[$n]:-}" ] && kill -0 "${NODE_PID[$n]}" 2>/dev/null; then
      kill "${NODE_PID[$n]}" 2>/dev/null
      sleep 0.2
      kill -9 "${NODE_PID[$n]}" 2>/dev/null
    fi
  done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

skip() { echo "SKIP: $*"; exit 77; }

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  skip "no /dev/fuse or fusermount3"
fi

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { CHECKS=$((CHECKS + 1)); }

# check_eq WHAT GOT WANT
check_eq() {
  if [ "$2" == "$3" ]; then pass; else fail "$1: got [$2], want [$3]"; fi
}

# check_file WHAT PATH WANT: the file's exact content (printf %s WANT)
check_file() {
  local got
  got=$(cat "$2" 2>&1; printf x)
  got=${got%x}
  check_eq "$1" "$got" "$3"
}

# check_fails WHAT MESSAGE CMD...: CMD must fail and print MESSAGE (strerror text)
check_fails() {
  local what=$1 msg=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then
    fail "$what: succeeded, wanted failure with '$msg'"
  elif [[ "$out" != *"$msg"* ]]; then
    fail "$what: failed with [$out], wanted '$msg'"
  else
    pass
  fi
}

# check_ok WHAT CMD...: CMD must succeed
check_ok() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then pass; else fail "$what: [$out]"; fi
}

# start_node NAME [daemon options...]: mounts $T/NAME from $T/NAME.state
start_node() {
  local n=$1 i
  shift
  mkdir -p "$T/$n"
  [[ " ${NODES[*]} " == *" $n "* ]] || NODES+=("$n")
  "$DINEMICFS" -f "$@" "$T/$n.state" "$T/$n" 2>>"$T/$n.log" &
  NODE_PID[$n]=$!
  for i in $(seq 1 200); do
    if mountpoint -q "$T/$n"; then return 0; fi
    if ! kill -0 "${NODE_PID[$n]}" 2>/dev/null; then break; fi
    sleep 0.05
  done
  echo "node $n did not mount; its log:"
  cat "$T/$n.log"
  exit 1
}

# stop_node NAME: clean unmount; the daemon must exit by itself
stop_node() {
  local n=$1 i
  fusermount3 -u "$T/$n" || fail "fusermount3 -u $n"
  for i in $(seq 1 100); do
    kill -0 "${NODE_PID[$n]}" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "${NODE_PID[$n]}" 2>/dev/null; then
    fail "node $n still running after unmount"
    kill -9 "${NODE_PID[$n]}"
  fi
  wait "${NODE_PID[$n]}" 2>/dev/null
  NODE_PID[$n]=
}

# kill_node NAME: kill -9, then drop the dead mount
kill_node() {
  local n=$1
  kill -9 "${NODE_PID[$n]}"
  wait "${NODE_PID[$n]}" 2>/dev/null
  NODE_PID[$n]=
  fusermount3 -u -z "$T/$n" 2>/dev/null
}

# verify_history FILE: each line's previous hash is the line before's hash
verify_history() {
  awk 'BEGIN { prev = "0000000000000000000000000000000000000000000000000000000000000000" }
       NF != 6 { print "bad line " NR ": " $0; bad = 1; next }
       $3 != prev { print "broken chain at line " NR; bad = 1 }
       { prev = $2 }
       END { exit bad }' "$1"
}

# finish: prints the case's tally; exit status 1 on any failure
finish() {
  echo "$CHECKS passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
  exit $?
}
