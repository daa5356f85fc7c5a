# SPDX-License-Identifier: MIT
# mesh.sh - a full mesh of 7 nodes: every node converges, and the links
# prune to a tree: the full updates sent, over all nodes, stay within
# 1.5 x (N-1) per update (without the tree it is about (N-1)^2), the rest
# go as hashes (updates_announced). Then the mesh is cut in two (three
# nodes and four, each side writing), healed, and converges everywhere;
# then a node is killed with -9 while another writes, and catches up.
. "$(dirname "$0")/../lib.sh"

N=7
P=$(port_base $N)
names=(a b c d e f g)

# opts_of I [FIRST LAST]: node I listens on P+I and connects to the nodes
# before it, those from FIRST on (0 by default) up to LAST
opts_of() {
  local i=$1 first=${2:-0} j peers=""
  for ((j = first; j < i; j++)); do peers+=",peer=wss://127.0.0.1:$((P + j))"; done
  echo "policy=open,sync=relaxed,listen=127.0.0.1:$((P + i))$peers"
}
all_dirs() { local n; for n in "${names[@]}"; do printf '%s\n' "$T/$n"; done; }
converged() { mapfile -t dirs < <(all_dirs); same_trees "${dirs[@]}"; }
# sum_stat KEY: the counter summed over every node
sum_stat() {
  local n s=0
  for n in "${names[@]}"; do s=$((s + $(stat_of "$n" "$1"))); done
  echo $s
}

for ((i = 0; i < N; i++)); do start_node "${names[$i]}" -o "$(opts_of $i)"; done
for n in "${names[@]}"; do
  check_ok "$n: every link up" wait_for 20 links_up "$n" $((N - 1))
done

# Writes spread over the nodes, each on its own object.
for n in "${names[@]}"; do mkdir -p "$T/$n/Doc/$n"; done
for ((r = 1; r <= 12; r++)); do
  for n in "${names[@]}"; do echo "$n $r" > "$T/$n/Doc/$n/f$((r % 4))"; done
done
check_ok "the mesh converges" wait_for 30 converged
check_same_trees "every node after the writes" $(all_dirs)
for n in "${names[@]}"; do
  check_file "$n: a's last write" "$T/$n/Doc/a/f0" $'a 12\n'
  check_file "$n: g's last write" "$T/$n/Doc/g/f0" $'g 12\n'
done
# Let the last acknowledgements and HAVEs settle before counting.
sleep 0.5
updates=$(stat_of a log_head)
sent=$(sum_stat updates_sent)
announced=$(sum_stat updates_announced)
limit=$((updates * 3 * (N - 1) / 2))
echo "updates $updates: full sends $sent (limit $limit, $(((N - 1) * (N - 1) * updates)) without a tree)," \
  "announced $announced, prunes $(sum_stat prunes_sent), grafts $(sum_stat grafts_sent)," \
  "duplicates $(sum_stat updates_duplicate)"
check_eq "every node stored every update" "$(sum_stat log_head)" $((N * updates))
if [ "$sent" -le "$limit" ]; then pass; else fail "full sends $sent > 1.5 x (N-1) x $updates = $limit"; fi
if [ "$(sum_stat prunes_sent)" -gt 0 ]; then pass; else fail "no link was pruned"; fi
if [ "$announced" -gt 0 ]; then pass; else fail "nothing was announced by hash"; fi
check_eq "no link closed for holes" "$(sum_stat links_closed_holes)" 0
check_eq "no bad frames" "$(sum_stat frames_dropped)" 0

# The cut: d..g come back linked only among themselves (a..c never connect
# out to them), so {a,b,c} and {d,e,f,g} are two meshes.
for ((i = 3; i < N; i++)); do stop_node "${names[$i]}"; done
for ((i = 3; i < N; i++)); do start_node "${names[$i]}" -o "$(opts_of $i 3)"; done
check_ok "a sees 2 links" wait_for 20 links_up a 2
check_ok "g sees 3 links" wait_for 20 links_up g 3
for ((r = 1; r <= 5; r++)); do
  echo "a cut $r" > "$T/a/Doc/a/cut"
  echo "c cut $r" > "$T/c/Doc/c/cut"
  echo "d cut $r" > "$T/d/Doc/d/cut"
  echo "g cut $r" > "$T/g/Doc/g/cut"
  echo "a $r" >> "$T/a/Doc/a/list"
  echo "f $r" >> "$T/f/Doc/a/list"
done
check_ok "b has a's writes" wait_for 10 file_is "$T/b/Doc/a/cut" $'a cut 5\n'
check_ok "e has g's writes" wait_for 10 file_is "$T/e/Doc/g/cut" $'g cut 5\n'
check_fails "the sides are apart" test -e "$T/b/Doc/g/cut"

# Heal: d..g come back with the full mesh.
for ((i = 3; i < N; i++)); do stop_node "${names[$i]}"; done
for ((i = 3; i < N; i++)); do start_node "${names[$i]}" -o "$(opts_of $i)"; done
for n in "${names[@]}"; do
  check_ok "$n: every link up again" wait_for 20 links_up "$n" $((N - 1))
done
check_ok "the mesh converges after the heal" wait_for 30 converged
check_same_trees "every node after the heal" $(all_dirs)
for n in a d; do
  check_file "$n: c's write of the cut" "$T/$n/Doc/c/cut" $'c cut 5\n'
  check_file "$n: g's write of the cut" "$T/$n/Doc/g/cut" $'g cut 5\n'
  check_eq "$n: both sides' appends" "$(sort "$T/$n/Doc/a/list" | tr '\n' ' ')" \
    "a 1 a 2 a 3 a 4 a 5 f 1 f 2 f 3 f 4 f 5 "
done

# A node killed with -9 while another writes, restarted: it gets everything.
(
  for ((i = 1; i <= 300; i++)); do echo $i >> "$T/b/Doc/b/stream" || echo "append $i failed"; done
) > "$T/stream.out" 2>&1 &
writer=$!
track_pid $writer
wait_for 10 test -e "$T/e/Doc/b/stream"
kill_node e
sleep 0.2
start_node e -o "$(opts_of 4)"
wait $writer
check_eq "every streamed write succeeded" "$(cat "$T/stream.out")" ""
check_ok "the mesh converges after kill -9" wait_for 30 converged
check_eq "e has every append once" "$(tr '\n' ' ' < "$T/e/Doc/b/stream")" "$(seq 1 300 | tr '\n' ' ')"
check_eq "e holds every update" "$(stat_of e log_head)" "$(stat_of b log_head)"
check_eq "g holds every update" "$(stat_of g log_head)" "$(stat_of b log_head)"

for ((i = N - 1; i >= 0; i--)); do stop_node "${names[$i]}"; done
finish
