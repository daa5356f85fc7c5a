# SPDX-License-Identifier: MIT
# concurrency.sh - 8 concurrent writers on one object and on 8 objects: every
# write lands once, and the chain stays whole.
. "$(dirname "$0")/../lib.sh"

start_node a
M=$T/a
mkdir -p "$M/C/one"
for w in 0 1 2 3 4 5 6 7; do mkdir -p "$M/C/o$w"; done

# A reader races the writers: it may see old or new values, never an error.
echo start > "$M/C/one/f0"
echo start > "$M/C/o1/f"
(
  while [ ! -e "$T/stop" ]; do
    cat "$M/C/one/f0" "$M/C/o1/f" > /dev/null 2>>"$T/reader.err" || echo x >> "$T/reader.err"
  done
) &
reader=$!
writers=()
for w in 0 1 2 3 4 5 6 7; do
  (
    for i in $(seq 1 100); do
      echo "$w-$i" > "$M/C/one/f$w" || echo "write failed $w $i"
      echo "$w-$i" > "$M/C/o$w/f" || echo "write failed o$w $i"
      echo "$i" >> "$M/C/one/list$w" || echo "append failed $w $i"
    done
  ) > "$T/w$w.out" 2>&1 &
  writers+=($!)
done
wait "${writers[@]}"
touch "$T/stop"
wait "$reader"
check_eq "reads during writes never fail" "$(cat "$T/reader.err" 2>/dev/null)" ""
check_eq "no write failed" "$(cat "$T"/w*.out)" ""
for w in 0 1 2 3 4 5 6 7; do
  check_file "one/f$w" "$M/C/one/f$w" "$w-100
"
  check_file "o$w/f" "$M/C/o$w/f" "$w-100
"
  check_eq "list$w" "$(tr '\n' ' ' < "$M/C/one/list$w")" "$(seq 1 100 | tr '\n' ' ')"
done
check_eq "one object: every update once" "$(wc -l < "$M/C/one/.history")" $((2 + 8 * 200))
if verify_history "$M/C/one/.history"; then pass; else fail "chain under concurrency"; fi
check_eq "stats" "$(awk '$1 == "updates_stored" { print $2 }' "$M/.node/stats")" \
  $((2 + 8 + 2 + 8 * 300))
stop_node a
finish
