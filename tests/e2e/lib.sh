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
# NODE_CHILD: the PID start_node started (NODE_PID may be set by a case to a
# daemon that is not this shell's child, whose status cannot be had);
# NODE_LOGAT: the size of the node's log when it was started
declare -A NODE_CHILD NODE_LOGAT
HELPER_PIDS=()

. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

cleanup() {
  local n p rc term fails_before=$FAILS
  # helpers started by the case (track_pid), e.g. inotifywait on a mount
  for p in "${HELPER_PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  for n in "${NODES[@]}"; do
    if [ "$FAILS" -gt 0 ] && [ -s "$T/$n.log" ]; then
      echo "--- log of node $n"
      cat "$T/$n.log"
    fi
    p=${NODE_PID[$n]:-}
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      # still running at the end: SIGTERM stops it cleanly (or it ended by itself)
      term=1
      if ! proc_ended "$p"; then
        kill "$p" 2>/dev/null
        if ! wait_for 10 proc_ended "$p"; then
          term=
          fail "node $n still running 10 s after SIGTERM: $(stuck_threads "$p")"
          kill -9 "$p" 2>/dev/null
        fi
      fi
      # still there: stuck on its own mount, which is still attached here
      wait_for 2 proc_ended "$p" || unstick "$n"
      if proc_ended "$p"; then
        wait "$p" 2>/dev/null
        rc=$?
        if [ -n "$term" ]; then node_exited "$n" "$rc"; fi
      fi
    fi
    if is_mounted "$T/$n"; then
      fusermount3 -u -z "$T/$n" 2>/dev/null
    fi
  done
  for p in "${HELPER_PIDS[@]}"; do
    proc_ended "$p" && wait "$p" 2>/dev/null
  done
  rm -rf "$T"
  # the tally was printed before: a daemon that failed at its end fails the case
  if [ "$FAILS" -gt "$fails_before" ]; then
    echo "$FAILS failed, counting the nodes' ends"
    exit 1
  fi
}
trap cleanup EXIT

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  skip "no /dev/fuse or fusermount3"
fi

# NODE_ENV: VAR=VALUE words added to the environment of the nodes started next
NODE_ENV=()

# start_node NAME [daemon options...]: mounts $T/NAME from $T/NAME.state
start_node() {
  local n=$1 i
  shift
  mkdir -p "$T/$n"
  [[ " ${NODES[*]} " == *" $n "* ]] || NODES+=("$n")
  NODE_LOGAT[$n]=$(stat -c %s "$T/$n.log" 2>/dev/null || echo 0)
  env "${NODE_ENV[@]}" "$DINEMICFS" -f "$@" "$T/$n.state" "$T/$n" 2>>"$T/$n.log" &
  NODE_PID[$n]=$!
  NODE_CHILD[$n]=$!
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
    proc_ended "${NODE_PID[$n]}" && break
    sleep 0.05
  done
  if ! proc_ended "${NODE_PID[$n]}"; then
    fail "node $n still running after unmount"
    kill_node "$n"
    return
  fi
  wait "${NODE_PID[$n]}" 2>/dev/null
  node_exited "$n" $?
  NODE_PID[$n]=
}

# A sanitizer's report in a daemon's log: AddressSanitizer, LeakSanitizer,
# UndefinedBehaviorSanitizer (which goes on after "runtime error" unless
# told to halt), and the others' headers and summaries
SANITIZER_RE='(ERROR|WARNING): [A-Za-z]+Sanitizer|SUMMARY: [A-Za-z]+Sanitizer|^[^ ]+:[0-9]+:[0-9]+: runtime error: '

# node_log NAME: what the node's log got since the node was last started
node_log() { tail -c +$((${NODE_LOGAT[$1]:-0} + 1)) "$T/$1.log" 2>/dev/null; }

# node_exited NAME STATUS: the node ended; stopped normally (unmounted, or
# SIGTERM), it must have exited 0, and its log since its start must hold no
# sanitizer report, else the case fails with the log's end. STATUS "-" (a
# kill -9 on purpose, or not this shell's child) checks the log alone.
node_exited() {
  local n=$1 rc=$2 why=
  [ "${NODE_CHILD[$n]:-}" == "${NODE_PID[$n]:-}" ] || rc=-
  [ "$rc" == - ] || [ "$rc" -eq 0 ] || why="exited with status $rc"
  if node_log "$n" | grep -qE "$SANITIZER_RE"; then
    why="${why:+$why; }its log has a sanitizer report"
  fi
  [ -n "$why" ] || return 0
  fail "node $n $why; the end of its log:"
  node_log "$n" | grep -E "$SANITIZER_RE" | head -3 | sed 's/^/  (report) /'
  node_log "$n" | tail -n 40 | sed 's/^/  | /'
}

# is_mounted DIR: DIR is a mount point (read from mountinfo: never touches a
# mount whose daemon is gone, unlike mountpoint(1) or stat(1))
is_mounted() {
  awk -v d="$1" '$5 == d { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# proc_ended PID: the process exited with all its threads (gone or a zombie)
proc_ended() {
  [ -d "/proc/$1" ] || return 0
  [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -le 1 ] &&
    [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" == Z ]
}

# unstick NAME: a node killed with -9 whose thread waits on its own mount
# (a request to itself that no one will answer) never dies; forcing the
# unmount aborts the FUSE connection and lets it go (root only).
unstick() {
  local n=$1 p=${NODE_PID[$1]}
  proc_ended "$p" && return 0
  umount -f "$T/$n" 2>/dev/null
  wait_for 5 proc_ended "$p"
}

# kill_node NAME: kill -9, then drop the dead mount
kill_node() {
  local n=$1
  kill -9 "${NODE_PID[$n]}"
  if ! wait_for 5 proc_ended "${NODE_PID[$n]}"; then
    fail "node $n did not die within 5 s of kill -9: $(stuck_threads "${NODE_PID[$n]}")"
    unstick "$n" || echo "node $n (pid ${NODE_PID[$n]}) is still stuck"
  fi
  proc_ended "${NODE_PID[$n]}" && wait "${NODE_PID[$n]}" 2>/dev/null
  # killed on purpose: its status says nothing, a report in its log does
  node_exited "$n" -
  NODE_PID[$n]=
  fusermount3 -u -z "$T/$n" 2>/dev/null
}

# stuck_threads PID: the threads of PID still alive, with their kernel stack tops
stuck_threads() {
  local t
  for t in /proc/$1/task/*; do
    [ "$(awk '{ print $3 }' "$t/stat" 2>/dev/null)" == Z ] && continue
    printf '[thread %s %s in %s] ' "${t##*/}" "$(awk '{ print $3 }' "$t/stat" 2>/dev/null)" \
      "$(head -4 "$t/stack" 2>/dev/null | sed 's/.*\] //' | tr '\n' ' ')"
  done
}

# verify_history FILE: each line's previous hash is the line before's hash
# (lines of held updates, "... held REASON", are not part of the chain)
verify_history() {
  awk 'BEGIN { prev = "0000000000000000000000000000000000000000000000000000000000000000" }
       NF > 7 && $7 == "held" { next }
       NF != 6 { print "bad line " NR ": " $0; bad = 1; next }
       $3 != prev { print "broken chain at line " NR; bad = 1 }
       { prev = $2 }
       END { exit bad }' "$1"
}

# track_pid PID: a helper process the case started; cleanup kills it by PID
track_pid() { HELPER_PIDS+=("$1"); }

# port_base N: the first of N consecutive TCP ports free on 127.0.0.1.
# Ports come from below the kernel's ephemeral range, so that no outgoing
# connection (of this case or any other process) can hold one when a node
# binds it; the start depends on the PID so that concurrent cases differ.
port_base() {
  local n=$1 lo=10000 hi=32768 i try busy base
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r hi _ < /proc/sys/net/ipv4/ip_local_port_range
  fi
  [ "$hi" -gt $((lo + 1000)) ] || { lo=1024; [ "$hi" -gt 2024 ] || hi=65536; }
  base=$((lo + ($$ * 7) % (hi - lo - n)))
  for try in $(seq 1 50); do
    busy=0
    if command -v ss >/dev/null; then
      for ((i = 0; i < n; i++)); do
        # any state: a listener, a connection or one in TIME_WAIT
        if [ -n "$(ss -Htan "sport = :$((base + i))" 2>/dev/null)" ]; then busy=1; break; fi
      done
    fi
    if [ $busy -eq 0 ]; then echo "$base"; return 0; fi
    base=$((base + n))
    [ $((base + n)) -lt "$hi" ] || base=$lo
  done
  echo "$base"
}

# wait_for TIMEOUT_S CMD...: polls CMD every 0.05 s until it succeeds;
# status 0 when it did within TIMEOUT_S seconds, else 1.
wait_for() {
  local int=${1%.*} frac=000000 t0=${EPOCHREALTIME/./}
  [[ $1 == *.* ]] && frac=${1#*.}000000
  local limit=$(( 10#${int:-0} * 1000000 + 10#${frac:0:6} ))
  shift
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    # EPOCHREALTIME: seconds with microseconds; compare in microseconds
    [ $(( ${EPOCHREALTIME/./} - t0 )) -lt "$limit" ] || return 1
    sleep 0.05
  done
}

# tree_dump DIR: every directory and file under DIR, one line each, sorted by
# relative path: "d PATH" for a directory, "f PATH SHA256" for a file (by
# content, so that equal dumps mean byte-for-byte equal trees). Names
# starting with "." are hidden by readdir already; find sees what ls sees.
tree_dump() {
  (
    cd "$1" || exit 1
    find . -mindepth 1 -type d -printf 'd %P\n'
    find . -mindepth 1 ! -type d ! -type f -printf 'o %P\n'
    # sha256sum prints "HASH  ./PATH"; a file it cannot read is missing here
    find . -type f -exec sha256sum -- {} + | sed -E 's|^\\?([0-9a-f]{64})  \./(.*)$|f \2 \1|'
  ) | LC_ALL=C sort
}

# check_same_trees WHAT DIR1 DIR2...: every DIR's tree_dump equals DIR1's;
# on a difference, reports the first differing line.
check_same_trees() {
  local what=$1 first=$2 d ref got diff
  shift 2
  ref=$(tree_dump "$first")
  for d in "$@"; do
    got=$(tree_dump "$d")
    if [ "$got" != "$ref" ]; then
      diff=$(diff <(printf '%s\n' "$ref") <(printf '%s\n' "$got") | grep '^[<>]' | head -2)
      fail "$what: $d differs from $first: ${diff//$'\n'/ | }"
      return
    fi
  done
  pass
}

# same_trees DIR1 DIR2...: status 0 when every tree equals DIR1's (for wait_for)
same_trees() {
  local ref d
  ref=$(tree_dump "$1") || return 1
  shift
  for d in "$@"; do
    [ "$(tree_dump "$d")" == "$ref" ] || return 1
  done
}

# file_is PATH WANT: the file holds exactly WANT (for wait_for)
file_is() { [ "$(cat "$1" 2>/dev/null; printf x)" == "$2x" ]; }

# links_up NODE N: the node's .node/peers shows exactly N links in state "up"
links_up() { [ "$(grep -cE '\s+up\s+[0-9a-f]{16}\s' "$T/$1/.node/peers")" -eq "$2" ]; }

# peer_rows NODE: the links in the node's .node/peers, one a line, their
# columns split by tabs: peer, state, node, contact, behind, ahead, acked,
# link, admitted, error. Split by spaces they would not be: an inbound peer
# is "ADDR (in)", a contact "Ns ago", and an error is words.
peer_rows() {
  local line re='^([^ ]+( \(in\))?) +([a-z]+) +([0-9a-f]{16}|-) +(never|[0-9]+s ago) +([0-9]+) +([0-9]+) +([0-9]+) +([^ ]+) +([^ ]+) +(.*)$'
  sed 1d "$T/$1/.node/peers" | while IFS= read -r line; do
    [[ $line =~ $re ]] || { echo "unparsed: $line" >&2; continue; }
    printf '%s\t' "${BASH_REMATCH[1]}" "${BASH_REMATCH[@]:3:8}"
    printf '%s\n' "${BASH_REMATCH[11]}"
  done
}

# peer_field NODE PEER COLUMN: the column (named as in the header) of the
# node's first link whose peer column starts with PEER, or whose node is PEER
# (a node id, or its first 16 hex digits); empty if none
peer_field() {
  local i cols=(peer state node contact behind ahead acked link admitted error)
  for i in "${!cols[@]}"; do [ "${cols[$i]}" == "$3" ] && break; done
  peer_rows "$1" | awk -F'\t' -v p="$2" -v c=$((i + 1)) \
    'index($1, p) == 1 || ($3 != "-" && index(p, $3) == 1) { print $c; exit }'
}

# stat_of NODE KEY: one counter from the node's .node/stats
stat_of() {
  awk -v k="$2" '$1 == k { print $2 }' "$T/$1/.node/stats"
}

# The hostile peer: update records signed by keys a test makes up
# ($MKUPDATE, tests/e2e/mkupdate.c), sent and fetched by a hand-written
# peer ($WSPROBE, tests/e2e/wsprobe.c) over TLS with a node key of its own.
# Set NETKEY to the network key file the nodes run with, if any.

# hostile_probe PORT STEP...: runs wsprobe against 127.0.0.1:PORT (with
# --netkey $NETKEY when set), its output on stdout; status 0 when every
# step did what it says
hostile_probe() {
  local port=$1 opts=()
  shift
  [ -z "${NETKEY:-}" ] || opts=(--netkey "$NETKEY")
  timeout 90 "$WSPROBE" "${opts[@]}" "$port" "$@"
}

# hostile_send PORT FILE...: sends the records in the files (as mkupdate
# writes them) to the node on PORT in one UPDATES message, in that order,
# then waits for a pong: the node has read them all (its inbox may still be
# applying them)
hostile_send() {
  local port=$1
  shift
  hostile_probe "$port" handshake send "$@" open
}

# hostile_fetch PORT DIR: saves the log of the node on PORT, every update
# it streams until none comes for 1 s, as DIR/000001.upd, ... in log order;
# prints how many
hostile_fetch() {
  local out
  out=$(hostile_probe "$1" handshake fetch "$2") || { echo "$out" >&2; return 1; }
  sed -n 's/^fetch: \([0-9]*\) updates saved in .*/\1/p' <<<"$out"
}

# flip_byte FILE OFFSET: flips the low bit of the byte at OFFSET (a negative
# OFFSET counts from the end: -1 is the last byte)
flip_byte() {
  local f=$1 off=$2 b
  [ "$off" -ge 0 ] || off=$(($(stat -c %s "$f") + off))
  b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
  [ -n "$b" ] || return 1
  printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# upd_hash FILE: a record's hash (BLAKE2b-256 of all its bytes), as mkupdate prints it
upd_hash() { b2sum -l 256 "$1" | cut -d' ' -f1; }

# need_hostile: the hostile peer's tools ($WSPROBE, $MKUPDATE, found next to
# the daemon when not given), or the case is skipped
need_hostile() {
  : "${WSPROBE:=$(dirname "$DINEMICFS")/../tests/e2e/wsprobe}"
  : "${MKUPDATE:=$(dirname "$DINEMICFS")/../tests/e2e/mkupdate}"
  [ -x "$WSPROBE" ] || skip "no wsprobe at $WSPROBE"
  [ -x "$MKUPDATE" ] || skip "no mkupdate at $MKUPDATE"
}

# make_netkey: a fresh network key in $NETKEY ($T/netkey, mode 0600)
make_netkey() {
  NETKEY=$T/netkey
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$NETKEY"
  chmod 600 "$NETKEY"
}

# sanitized_build: the daemon is a sanitizer build, which keeps freed memory
# in quarantine and shadows the rest: its memory figures say nothing
sanitized_build() { ldd "$DINEMICFS" 2>/dev/null | grep -q libasan; }
