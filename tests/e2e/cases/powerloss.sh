# SPDX-License-Identifier: MIT
# powerloss.sh - a power cut in the middle of 2,000 acknowledged writes. The
# daemon runs with an LD_PRELOAD shim (tests/e2e/powershim.c) that journals,
# for every file of its state directory, what each write replaces; it is
# killed with -9 mid-stream, and powercut (tests/e2e/powercut.c) then takes
# back every change made after that file's last fsync or fdatasync, as a
# power cut would. Restarted without the shim, a sync=strict node opens and
# has every write it acknowledged; the same run under sync=relaxed must lose
# some, or the cut proved nothing.
. "$(dirname "$0")/../lib.sh"

: "${POWERSHIM:=$(dirname "$DINEMICFS")/../tests/e2e/powershim.so}"
: "${POWERCUT:=$(dirname "$DINEMICFS")/../tests/e2e/powercut}"
[ -f "$POWERSHIM" ] || skip "no powershim.so at $POWERSHIM"
[ -x "$POWERCUT" ] || skip "no powercut at $POWERCUT"

OBJECTS=40 # the writes go to distinct fields, spread over this many objects
WANT=2000  # acknowledged writes before the power goes
MAX=6000   # the writer would go on this far: the cut comes mid-stream

acked() { [ -f "$T/$1.acked" ] && wc -l < "$T/$1.acked" || echo 0; }
acked_at_least() { [ "$(acked "$1")" -ge "$2" ]; }

# field NODE I: the field that write I sets (to "vI")
field() { echo "$T/$1/P/o$(($2 % OBJECTS))/f$(($2 / OBJECTS))"; }

# cut_power NODE SYNC: mounts NODE under the shim, writes until WANT writes
# are acknowledged (logged in $T/NODE.acked once echo returned), kills the
# daemon with -9 while the writer goes on, and runs powercut on its state
cut_power() {
  local n=$1 sync=$2 o writer at_kill
  NODE_ENV=(LD_PRELOAD="$POWERSHIM" POWERCUT_DIR="$T/$n.state" POWERCUT_JOURNAL="$T/$n.journal"
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
  start_node "$n" -o sync="$sync"
  NODE_ENV=()
  check_ok "$sync: the shim is loaded" grep -q powershim "/proc/${NODE_PID[$n]}/maps"
  mkdir "$T/$n/P" || fail "$sync: mkdir P"
  for ((o = 0; o < OBJECTS; o++)); do mkdir "$T/$n/P/o$o" || fail "$sync: mkdir o$o"; done
  (
    for ((i = 0; i < MAX; i++)); do
      echo "v$i" > "$(field "$n" $i)" || break
      echo "$i" >> "$T/$n.acked"
    done
  ) 2>/dev/null &
  writer=$!
  track_pid "$writer"
  wait_for 60 acked_at_least "$n" "$WANT" || fail "$sync: only $(acked "$n") writes in 60 s"
  kill_node "$n"
  at_kill=$(acked "$n")
  wait_for 10 proc_ended "$writer" || fail "$sync: the writer goes on after the kill"
  wait "$writer" 2>/dev/null
  echo "# $sync: power cut after $at_kill acknowledged writes ($(acked "$n") in all)"
  check_ok "$sync: the power went mid-stream" test "$(acked "$n")" -lt "$MAX"
  check_ok "$sync: the shim journalled the writes" test -s "$T/$n.journal"
  if "$POWERCUT" "$T/$n.journal" "$T/$n.state" > "$T/$n.cut" 2>&1; then pass; else
    fail "$sync: powercut: $(cat "$T/$n.cut")"
  fi
  sed 's/^/# /' "$T/$n.cut"
}

# lost NODE: how many acknowledged writes the restarted node lacks; the
# first of them on stderr
lost() {
  local n=$1 i v f count=0
  while read -r i; do
    f=$(field "$n" "$i")
    v=
    { read -r v < "$f"; } 2>/dev/null
    if [ "$v" != "v$i" ]; then
      [ $count -gt 0 ] || echo "$f: [$v], acknowledged [v$i]" >&2
      count=$((count + 1))
    fi
  done < "$T/$1.acked"
  echo "$count"
}

cut_power s strict
start_node s -o sync=strict
n=$(lost s 2>"$T/first")
check_eq "strict: acknowledged writes lost after the power cut ($(cat "$T/first"))" "$n" 0
for ((o = 0; o < OBJECTS; o++)); do
  verify_history "$T/s/P/o$o/.history" >/dev/null || fail "strict: history of o$o does not verify"
done
mkdir -p "$T/s/Q/x" && echo after > "$T/s/Q/x/f"
check_file "strict: writable after the power cut" "$T/s/Q/x/f" $'after\n'
stop_node s

cut_power r relaxed
start_node r -o sync=relaxed
n=$(lost r 2>/dev/null)
if [ "$n" -gt 0 ]; then
  pass
  echo "# relaxed: $n of $(acked r) acknowledged writes lost"
else
  fail "relaxed: no acknowledged write lost: the power cut proved nothing"
fi
mkdir -p "$T/r/Q/x" && echo after > "$T/r/Q/x/f"
check_file "relaxed: writable after the power cut" "$T/r/Q/x/f" $'after\n'
stop_node r
finish
