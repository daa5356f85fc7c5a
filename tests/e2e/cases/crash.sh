# SPDX-License-Identifier: MIT
# crash.sh - kill -9 in the middle of many writes: after a restart, every
# write that returned success is there. Then the same with values of
# 100 KiB, each kept in a file of its own beside LevelDB: each field holds
# its last acknowledged value whole, and the store keeps exactly one file
# per big record its histories name (none half written, none orphaned).
. "$(dirname "$0")/../lib.sh"

start_node a
M=$T/a
mkdir -p "$M/Log/w"

# Field k gets values k, k+8, k+16, ...; a value is logged once echo returned.
(
  i=0
  while :; do
    if echo "$i" > "$M/Log/w/f$((i % 8))"; then echo "$i" >> "$T/acked"; else break; fi
    i=$((i + 1))
  done
) 2>/dev/null &
writer=$!
sleep 2
kill_node a
wait "$writer" 2>/dev/null
acked=$(wc -l < "$T/acked")
check_ok "some writes were acknowledged" test "$acked" -gt 20

start_node a
for k in 0 1 2 3 4 5 6 7; do
  last=$(awk -v k=$k '$1 % 8 == k { v = $1 } END { print v }' "$T/acked")
  got=$(cat "$M/Log/w/f$k")
  # The write in flight at the kill may or may not have landed.
  if [ "$got" = "$last" ] || [ "$got" = "$((last + 8))" ]; then
    pass
  else
    fail "field f$k: got [$got], last acknowledged [$last]"
  fi
done
n=$(($(wc -l < "$M/Log/w/.history") - 1))
check_ok "history holds every acknowledged write ($n >= $acked)" test "$n" -ge "$acked"
if verify_history "$M/Log/w/.history"; then pass; else fail "history chain after crash"; fi
echo after > "$M/Log/w/f0"
check_file "writable after restart" "$M/Log/w/f0" $'after\n'

# Big values: field k of Big/w gets values k, k+4, ... of 100 KiB each.
big() { printf '%s\n' "$1"; head -c $((100 << 10)) /dev/zero | tr '\0' x; }
mkdir -p "$M/Big/w"
(
  i=0
  while :; do
    big "$i" > "$T/big.$i" || break
    if cp "$T/big.$i" "$M/Big/w/f$((i % 4))"; then echo "$i" >> "$T/bigacked"; else break; fi
    rm -f "$T/big.$i"
    i=$((i + 1))
  done
) 2>/dev/null &
writer=$!
sleep 2
kill_node a
wait "$writer" 2>/dev/null
acked=$(wc -l < "$T/bigacked")
check_ok "some big writes were acknowledged ($acked)" test "$acked" -gt 4
start_node a
for k in 0 1 2 3; do
  last=$(awk -v k=$k '$1 % 4 == k { v = $1 } END { print v }' "$T/bigacked")
  first=$(head -n 1 "$M/Big/w/f$k")
  size=$(stat -c %s "$M/Big/w/f$k")
  if { [ "$first" = "$last" ] || [ "$first" = "$((last + 4))" ]; } &&
    [ "$size" = $(((100 << 10) + ${#first} + 1)) ]; then
    pass
  else
    fail "big field f$k: first line [$first], $size bytes; last acknowledged [$last]"
  fi
done
if verify_history "$M/Big/w/.history"; then pass; else fail "history chain of Big/w"; fi
# Every line but the object's create is a set of 100 KiB.
records=$(grep -c ' set f[0-3]$' "$M/Big/w/.history")
check_eq "the history: the create and the sets" "$(wc -l < "$M/Big/w/.history")" $((records + 1))
files=$(find "$T/a.state/db/blobs" -type f | wc -l)
echo "# $records big records in Big/w's history, $files files"
check_ok "no file half written is left" test -z "$(find "$T/a.state/db/blobs" -name '*.tmp')"
check_eq "one file per big record" "$files" "$records"
stop_node a
finish
