# SPDX-License-Identifier: MIT
# repl_partition.sh - a chain A <- B <- C under policy=open is cut in two by
# stopping B; both sides change the same things; once B is back every node
# holds the same tree: last writer wins, appends all survive, a concurrent
# mkdir keeps both objects (NAME and NAME~XXXXXXXX). Then B is killed with
# -9 while A streams writes, and comes back.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 3)
opts_a=(-o policy=open,listen=127.0.0.1:$P,sync=relaxed)
opts_b=(-o policy=open,listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P)
opts_c=(-o policy=open,listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$((P + 1)))
start_node a "${opts_a[@]}"
start_node b "${opts_b[@]}"
start_node c "${opts_c[@]}"
A=$T/a B=$T/b C=$T/c

converged() { same_trees "$A" "$B" "$C"; }

check_ok "links up" wait_for 10 links_up b 2

# Shared state before the cut, made on A (A owns these objects).
mkdir -p "$A/Doc/x" "$A/Doc/y"
echo base > "$A/Doc/x/f"
echo base >> "$A/Doc/x/list"
echo keep1 > "$A/Doc/y/d1"
echo keep2 > "$A/Doc/y/d2"
check_ok "initial state reaches C" wait_for 10 file_is "$C/Doc/y/d2" $'keep2\n'
check_ok "initial convergence" wait_for 10 converged

# The cut: C cannot reach A without B.
stop_node b
check_ok "A sees its link gone" wait_for 10 links_up a 0
check_ok "C sees its link gone" wait_for 10 links_up c 0

# Conflicting writes; C's come later, so C's clock is later.
echo fromA > "$A/Doc/x/f"
echo a1 >> "$A/Doc/x/list"
echo a2 >> "$A/Doc/x/list"
rm "$A/Doc/y/d1"                       # A deletes first ...
echo cw2 > "$C/Doc/y/d2"                # ... C writes first ...
mkdir "$A/Doc/same" && echo A > "$A/Doc/same/who"
sleep 0.05
check_ok "C writes A's object (open policy)" bash -c "echo fromC > '$C/Doc/x/f'"
echo c1 >> "$C/Doc/x/list"
echo c2 >> "$C/Doc/x/list"
echo cw1 > "$C/Doc/y/d1"                # ... C writes later: the write wins
rm "$A/Doc/y/d2"                        # ... A deletes later: the delete wins
mkdir "$C/Doc/same" && echo C > "$C/Doc/same/who"
check_file "A sees its own value" "$A/Doc/x/f" $'fromA\n'
check_file "C sees its own value" "$C/Doc/x/f" $'fromC\n'
check_file "A sees its own object" "$A/Doc/same/who" $'A\n'
check_file "C sees its own object" "$C/Doc/same/who" $'C\n'

# Heal.
start_node b "${opts_b[@]}"
check_ok "B links up again" wait_for 15 links_up b 2
t0=${EPOCHREALTIME/./}
if wait_for 20 converged; then pass; else fail "no convergence within 20 s after the heal"; fi
echo "converged $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after B came back"
check_same_trees "A B C after the heal" "$A" "$B" "$C"

for n in a b c; do
  M=$T/$n
  check_file "$n: last writer wins on one field" "$M/Doc/x/f" $'fromC\n'
  check_file "$n: appends of both sides, in a stable order" "$M/Doc/x/list" $'base\na1\na2\nc1\nc2\n'
  check_file "$n: a write after a delete wins" "$M/Doc/y/d1" $'cw1\n'
  check_fails "$n: a delete after a write wins" "No such file" cat "$M/Doc/y/d2"
  names=$(ls "$M/Doc" | grep -E '^same' | tr '\n' ' ')
  if [[ "$names" =~ ^same\ same~([0-9a-f]{8})\ $ ]]; then
    pass
    hex=${BASH_REMATCH[1]}
    check_file "$n: the earlier mkdir keeps the name" "$M/Doc/same/who" $'A\n'
    check_file "$n: the later one is NAME~XXXXXXXX" "$M/Doc/same~$hex/who" $'C\n'
    id=$(cat "$M/Doc/same~$hex/.id")
    if [[ "${id#* }" == "$hex"* ]]; then pass; else fail "$n: ~XXXXXXXX is not its key in [$id]"; fi
    check_eq "$n: .id names it" "${id%% *}" "Doc/same~$hex"
  else
    fail "$n: want exactly 'same same~XXXXXXXX', got [$names]"
  fi
done
check_eq "same tilde name everywhere" "$(ls "$A/Doc" | grep '~')" "$(ls "$C/Doc" | grep '~')"
for n in a b c; do
  check_eq "$n: one history for the field" "$(grep -c ' f$' "$T/$n/Doc/x/.history")" 3
  if verify_history "$T/$n/Doc/same/.history" > /dev/null; then pass; else fail "$n: chain"; fi
done

# kill -9 of the middle node while A streams 2000 writes
mkdir "$A/Stream"
mkdir "$A/Stream/s"
(
  for ((i = 1; i <= 2000; i++)); do
    printf '%d\n' $i > "$A/Stream/s/v$((i % 20))" || echo "write $i failed"
    echo $i >> "$A/Stream/s/all" || echo "append $i failed"
  done
) > "$T/stream.out" 2>&1 &
writer=$!
track_pid $writer
wait_for 10 test -e "$C/Stream/s/all"
sleep 0.3
kill_node b
at_kill=$(wc -l < "$A/Stream/s/all")
sleep 0.3
start_node b "${opts_b[@]}"
echo "B killed after $at_kill of 2000 appends, restarted after $(wc -l < "$A/Stream/s/all")"
wait $writer
check_eq "every streamed write succeeded" "$(cat "$T/stream.out")" ""
t0=${EPOCHREALTIME/./}
if wait_for 30 converged; then pass; else fail "no convergence within 30 s after kill -9"; fi
echo "converged $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after the stream"
check_same_trees "A B C after kill -9 and restart" "$A" "$B" "$C"
check_eq "C has every append once" "$(tr '\n' ' ' < "$C/Stream/s/all")" "$(seq 1 2000 | tr '\n' ' ')"
check_file "last value on C" "$C/Stream/s/v0" $'2000\n'
check_eq "C holds every update" "$(stat_of c updates_stored)" "$(stat_of a updates_stored)"
check_eq "B holds every update" "$(stat_of b updates_stored)" "$(stat_of a updates_stored)"

stop_node c
stop_node b
stop_node a
finish
