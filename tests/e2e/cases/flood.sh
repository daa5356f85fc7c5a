# SPDX-License-Identifier: MIT
# flood.sh - what an admitted hostile peer can make a node hold stays
# bounded: for FLOOD_SECONDS (60) it sends values over the node's max_value,
# appends past it, updates whose predecessor never comes, updates stamped
# far ahead and updates nobody authorized (from a fresh key each round),
# while an honest peer and local writers go on. The node's peak RSS stays
# within 64 MiB of an idle node's that ran as long, its store stays within
# the held quotas, and the honest peer's and the local writers' updates
# still arrive, on both nodes; a watcher on B sees an event for every field
# that A's second writer makes while A relays the flood to B. Memory is the anonymous part of the resident
# set (RssAnon), sampled after every round: the store's table files that
# LevelDB maps are page cache the kernel reclaims (RssFile), bounded by the
# store's size, which is checked on its own.
. "$(dirname "$0")/../lib.sh"
need_hostile
make_netkey
# A sanitizer build checks no memory bound (below): a shorter flood does for it.
SECS=${FLOOD_SECONDS:-60}
sanitized_build && SECS=${FLOOD_SECONDS:-20}

P=$(port_base 3)
start_node a -o listen=127.0.0.1:$P,network_key=$NETKEY,max_value=1M${FLOOD_OPTS:+,$FLOOD_OPTS}
start_node b -o listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY
start_node idle -o listen=127.0.0.1:$((P + 2)),network_key=$NETKEY
A=$T/a
B=$T/b
check_ok "B's link to A is up" wait_for 10 links_up b 1
mkdir -p "$B/Person/bob" "$A/Person/ann"
check_ok "A has bob" wait_for 10 test -d "$A/Person/bob"
bob=$(cut -d' ' -f2 "$A/Person/bob/.id")
bob_head() { awk 'END { print $2 }' "$A/Person/bob/.history"; }

# The hostile peer's own model and object, which it may write as owner.
K=$T/k.key
"$MKUPDATE" newkey "$K" >/dev/null
mk() { "$MKUPDATE" make "$@"; }
m=$(mk --key "$K" --op model-create --clock now --entity model --model Junk --out "$T/m.upd")
o=$(mk --key "$K" --op object-create --clock now --entity self --model Junk --name o \
  --out "$T/o.upd")
check_ok "the hostile peer's object arrives" hostile_send $P "$T/m.upd" "$T/o.upd"
check_ok "A shows it" wait_for 10 test -d "$A/Junk/o"

head -c $((2 << 20)) /dev/urandom > "$T/big"
head -c $((256 << 10)) /dev/urandom > "$T/part"
head -c $((64 << 10)) /dev/urandom > "$T/small"
# round N: one message of everything the recipes send, each update new
round() {
  local n=$1 f=() key=$T/r$1.key prev=$o i
  "$MKUPDATE" newkey "$key" >/dev/null
  printf '%08d' "$n" >> "$T/big"
  mk --key "$K" --op set --clock now --entity self --model Junk --name "big$n" \
    --value-file "$T/big" --prev "$prev" --out "$T/f$n.1" >/dev/null && f+=("$T/f$n.1")
  for i in 2 3 4 5; do
    printf '%08d%d' "$n" "$i" >> "$T/part"
    prev=$(mk --key "$K" --op append --clock now --entity self --model Junk --name list \
      --value-file "$T/part" --prev "$prev" --out "$T/f$n.$i") && f+=("$T/f$n.$i")
  done
  for i in 6 7; do
    printf '%08d%d' "$n" "$i" >> "$T/small"
    mk --key "$K" --op set --clock now --entity self --model Junk --name "p$i" \
      --value-file "$T/small" --prev "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
      --out "$T/f$n.$i" >/dev/null && f+=("$T/f$n.$i")
  done
  mk --key "$K" --op set --clock now+3600000 --entity self --model Junk --name "late$n" \
    --value-file "$T/small" --prev "$o" --out "$T/f$n.8" >/dev/null && f+=("$T/f$n.8")
  for i in 9 10; do
    mk --key "$key" --op set --clock now --entity "$bob" --model Person --name "x$i" \
      --value-file "$T/small" --prev "$(bob_head)" --out "$T/f$n.$i" >/dev/null &&
      f+=("$T/f$n.$i")
  done
  hostile_send $P "${f[@]}" >/dev/null
  rm -f "${f[@]}" "$key"
}

# A second writer on A makes a new field of ann every 20 ms until $T/stop
# exists, its last number in $T/written; inotifywait watches ann on B.
if command -v inotifywait >/dev/null; then
  inotifywait -m -e close_write --format '%e %f' "$B/Person/ann" >"$T/events" 2>"$T/iw.err" &
  track_pid $!
  check_ok "inotifywait watching ann on B" wait_for 10 grep -q "Watches established" "$T/iw.err"
  (
    i=0
    until [ -e "$T/stop" ]; do
      i=$((i + 1))
      echo "$i" >"$A/Person/ann/e$i" && echo "$i" >"$T/written"
      sleep 0.02
    done
  ) &
  track_pid $!
  WRITER=$!
fi

# anon NODE: the node's anonymous resident memory now, in kB
anon() { awk '/^RssAnon:/ { print $2 }' "/proc/${NODE_PID[$1]}/status"; }
peak_a=0
peak_idle=0
end=$((SECONDS + SECS))
n=0
while [ $SECONDS -lt $end ]; do
  n=$((n + 1))
  round $n
  now=$(anon a)
  [ "$now" -le "$peak_a" ] || peak_a=$now
  now=$(anon idle)
  [ "$now" -le "$peak_idle" ] || peak_idle=$now
  echo "$n" > "$B/Person/bob/count"
  echo "$n" > "$A/Person/ann/count"
done
echo "# $n rounds in $SECS s"
if [ -n "${WRITER:-}" ]; then
  touch "$T/stop"
  wait "$WRITER"
  e=$(cat "$T/written")
  echo "# A's second writer made $e fields"
  check_ok "its last field reaches B" wait_for 20 file_is "$B/Person/ann/e$e" "$e"$'\n'
  # each_event: every field e1 ... e$e has its CLOSE_WRITE on B; else says which not
  each_event() {
    awk -v n="$e" '$1 ~ /^CLOSE_WRITE/ && $2 ~ /^e[0-9]+$/ { seen[substr($2, 2)] = 1 }
      END { for (i = 1; i <= n; i++) if (!(i in seen)) { printf " e%d", i; bad++ }
            if (bad) { printf " (%d of %d)\n", bad, n; exit 1 } }' "$T/events"
  }
  wait_for 5 each_event
  check_ok "a watcher on B saw every field A's second writer made" each_event
fi
check_ok "the honest peer's last write reaches A" wait_for 20 file_is "$A/Person/bob/count" "$n"$'\n'
check_ok "A's last local write reaches B" wait_for 20 file_is "$B/Person/ann/count" "$n"$'\n'
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/${NODE_PID[$1]}/status"; }
grown=$((peak_a - peak_idle))
echo "# anonymous memory at its peak: A $peak_a kB, idle $peak_idle kB (VmHWM: A $(hwm a) kB, idle $(hwm idle) kB)"
if sanitized_build; then
  echo "# sanitizer build: the memory bound is not checked"
else
  check_ok "A's anonymous memory stays within 64 MiB of an idle node's (+$grown kB)" \
    test "$grown" -lt 65536
fi
check_ok "A never shows a value over its max_value" \
  bash -c "! find '$A/Junk/o' -type f -size +1024k | grep -q ."
check_ok "A's list stays within max_value" test "$(stat -c %s "$A/Junk/o/list" 2>/dev/null || echo 0)" -le 1048576
store=$(du -sk "$T/a.state/db" | cut -f1)
echo "# A's store: $store kB"
check_ok "A's store stays within its held quota (256 MiB) and what it applied" \
  test "$store" -lt $((300 << 10))
for n in a b; do stop_node $n; done
stop_node idle
finish
