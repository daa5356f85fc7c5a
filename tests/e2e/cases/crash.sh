# SPDX-License-Identifier: MIT
# crash.sh - kill -9 in the middle of many writes: after a restart, every
# write that returned success is there.
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
stop_node a
finish
