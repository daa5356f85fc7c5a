# SPDX-License-Identifier: MIT
# conflicts.sh - values that lost to a concurrent write, on a chain
# A <- B <- C cut in two by stopping B. A owns bob; chief's key lives on C,
# which signs as chief, listed in bob's .authorized. A and C both write
# phone while cut off: after the heal the same OBJECT/.conflicts/ file
# (name and content) and .node/conflicts line show on every node; rm of it
# on C keeps the winner everywhere; a second conflict taken by mv on A,
# while C is down, makes the loser the value everywhere and C never lists
# it after catching up. Appends are not conflicts, and an encrypted losing
# value is not readable on B, which holds no key.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 3)
opts_a=(-o listen=127.0.0.1:$P)
opts_b=(-o listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P)
opts_c=(-o listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$((P + 1)))
start_node a "${opts_a[@]}"
start_node b "${opts_b[@]}"
start_node c "${opts_c[@]}"
A=$T/a B=$T/b C=$T/c
check_ok "links up" wait_for 10 links_up b 2

mkdir -p "$A/Person/bob"
echo salary > "$A/Person/.encrypted"
mkdir "$C/Person/chief"
check_ok "A has chief" wait_for 10 test -d "$A/Person/chief"
echo Person/chief > "$A/Person/bob/.authorized"
echo Person/chief > "$C/.node/as"
echo base > "$A/Person/bob/phone"
echo 1000 > "$A/Person/bob/salary"
echo l0 >> "$A/Person/bob/log"
# B reads no salary: its tree is compared by its other values and its store
converged() {
  local n
  same_trees "$A" "$C" || return 1
  for n in b c; do
    [ "$(stat_of $n updates_stored)" == "$(stat_of a updates_stored)" ] || return 1
  done
  [ "$(cat "$B/Person/bob/phone" "$B/Person/bob/log")" == \
    "$(cat "$A/Person/bob/phone" "$A/Person/bob/log")" ]
}
check_ok "C has the base values" wait_for 10 file_is "$C/Person/bob/salary" $'1000\n'
check_ok "initial convergence" wait_for 10 converged
for n in a b c; do
  check_eq "$n: no conflicts yet" "$(stat_of $n conflicts)" 0
  check_eq "$n: .conflicts is empty" "$(ls -A "$T/$n/Person/bob/.conflicts")" ""
done

cut() {
  stop_node b
  check_ok "A sees its link gone" wait_for 10 links_up a 0
  check_ok "C sees its link gone" wait_for 10 links_up c 0
}
heal() {
  start_node b "${opts_b[@]}"
  check_ok "B links up again" wait_for 15 links_up b 2
  check_ok "convergence after the heal" wait_for 20 converged
}
# conflict_names NODE: the files of bob's .conflicts on NODE, one line
conflict_names() { ls -A "$T/$1/Person/bob/.conflicts" | tr '\n' ' '; }
# listed NODE NAME: NODE's .node/conflicts lists the conflict NAME
listed() { grep -q " lost $2 by " "$T/$1/.node/conflicts"; }

# --- 1: A and C write phone while cut off; C writes later and wins.
cut
echo fromA > "$A/Person/bob/phone"
echo a1 >> "$A/Person/bob/log"
echo 2000 > "$A/Person/bob/salary"
sleep 0.05
echo fromC > "$C/Person/bob/phone"
echo c1 >> "$C/Person/bob/log"
echo 3000 > "$C/Person/bob/salary"
check_eq "no conflict on A before the heal" "$(stat_of a conflicts)" 0
heal

names=$(conflict_names a)
re='^(phone~[0-9]+-[0-9a-f]{8}) (salary~[0-9]+-[0-9a-f]{8}) $'
if [[ "$names" =~ $re ]]; then
  pass
  PH=${BASH_REMATCH[1]} SAL=${BASH_REMATCH[2]}
else
  fail "A's .conflicts: want one phone~MS-HASH8 and one salary~MS-HASH8, got [$names]"
  PH=phone~none SAL=salary~none
fi
line=$(grep " lost $PH by " "$A/.node/conflicts")
check_ok "A's .node/conflicts lists the phone conflict" \
  bash -c "grep -qE '^Person/bob/phone winner [0-9a-f]{64} lost $PH by [0-9a-f]{64}\$' '$A/.node/conflicts'"
for n in a b c; do
  M=$T/$n
  check_eq "$n: the same conflict files" "$(conflict_names $n)" "$names"
  check_file "$n: the winner stays the value" "$M/Person/bob/phone" $'fromC\n'
  check_file "$n: the conflict file holds the losing value" "$M/Person/bob/.conflicts/$PH" \
    $'fromA\n'
  check_eq "$n: read-only, 0444" "$(stat -c %a "$M/Person/bob/.conflicts/$PH")" 444
  check_eq "$n: the same .node/conflicts line" "$(grep " lost $PH by " "$M/.node/conflicts")" \
    "$line"
  check_eq "$n: two lines in .node/conflicts" "$(wc -l < "$M/.node/conflicts")" 2
  check_eq "$n: stats counts two conflicts" "$(stat_of $n conflicts)" 2
  check_file "$n: appends of both sides, no conflict" "$M/Person/bob/log" $'l0\na1\nc1\n'
done
check_eq "the loser's signer is A's bob" "${line##* by }" "$(cat "$A/Person/bob/.owner")"

# The encrypted loser: A and C read it, B holds no key.
check_file "A reads the losing salary" "$A/Person/bob/.conflicts/$SAL" $'2000\n'
check_file "C reads it as chief" "$C/Person/bob/.conflicts/$SAL" $'2000\n'
check_eq "on A: for its user only" "$(stat -c %A "$A/Person/bob/.conflicts/$SAL")" -r--------
check_fails "B cannot read the losing salary" "Permission denied" \
  cat "$B/Person/bob/.conflicts/$SAL"
check_eq "on B: no r" "$(stat -c %A "$B/Person/bob/.conflicts/$SAL")" ----------
check_file "the winning salary on C" "$C/Person/bob/salary" $'3000\n'

# A conflict file is not written, and moves only over its own field:
# elsewhere rename(2) fails with EINVAL, which mv words as below.
check_fails "no write to a conflict file" "Operation not permitted" \
  bash -c "echo x > '$A/Person/bob/.conflicts/$PH'"
check_fails "no truncate of it" "Operation not permitted" \
  truncate -s 0 "$A/Person/bob/.conflicts/$PH"
check_fails "no new file in .conflicts" "Operation not permitted" \
  touch "$A/Person/bob/.conflicts/new"
check_fails "mv to another name" "subdirectory of itself" \
  mv "$A/Person/bob/.conflicts/$PH" "$A/Person/bob/other"
check_fails "mv over another field" "subdirectory of itself" \
  mv "$A/Person/bob/.conflicts/$PH" "$A/Person/bob/log"
check_fails "mv out of the object" "subdirectory of itself" \
  mv "$A/Person/bob/.conflicts/$PH" "$A/Person/chief/phone"
check_file "the loser still there" "$A/Person/bob/.conflicts/$PH" $'fromA\n'
check_ok "no field other" bash -c "! test -e '$A/Person/bob/other'"

# --- rm on C keeps the winner, everywhere. A looks the file up just before,
# so only the kernel's invalidation makes it go at once.
stat "$A/Person/bob/.conflicts/$PH" > /dev/null
rm -f "$C/Person/bob/.conflicts/$PH"
check_eq "C: gone at once" "$(conflict_names c)" "$SAL "
gone_on_a() { stat "$A/Person/bob/.conflicts/$PH" > /dev/null 2>&1; ! listed a "$PH"; }
check_ok "A's .node/conflicts drops it" wait_for 10 gone_on_a
check_ok "A's kernel forgot the file" bash -c "! test -e '$A/Person/bob/.conflicts/$PH'"
check_ok "B drops it" wait_for 10 bash -c "! grep -q ' lost $PH by ' '$B/.node/conflicts'"
check_ok "convergence after rm" wait_for 10 converged
for n in a b c; do
  check_eq "$n: only salary's conflict is left" "$(conflict_names $n)" "$SAL "
  check_eq "$n: stats counts one" "$(stat_of $n conflicts)" 1
  check_file "$n: the winner stays" "$T/$n/Person/bob/phone" $'fromC\n'
  check_fails "$n: the file is gone" "No such file" cat "$T/$n/Person/bob/.conflicts/$PH"
done
check_fails "rm again: no such conflict" "No such file" \
  rm --interactive=never "$C/Person/bob/.conflicts/$PH"
rm -f "$A/Person/bob/.conflicts/$SAL"
check_ok "salary's conflict resolved on B" wait_for 10 \
  bash -c "[ \"\$(awk '\$1 == \"conflicts\" { print \$2 }' '$B/.node/stats')\" = 0 ]"

# --- 2: another conflict, taken by mv on A while C is down.
cut
echo a2 > "$A/Person/bob/phone"
sleep 0.05
echo c2 > "$C/Person/bob/phone"
heal
PH2=$(conflict_names a)
PH2=${PH2% }
if [[ "$PH2" =~ ^phone~[0-9]+-[0-9a-f]{8}$ ]]; then pass; else fail "want one phone~, got [$PH2]"; fi
for n in a b c; do
  check_file "$n: the second loser" "$T/$n/Person/bob/.conflicts/$PH2" $'a2\n'
  check_eq "$n: stats counts one again" "$(stat_of $n conflicts)" 1
done
stop_node c
mv "$A/Person/bob/.conflicts/$PH2" "$A/Person/bob/phone"
check_file "A: the loser is the value" "$A/Person/bob/phone" $'a2\n'
check_eq "A: the conflict is gone" "$(conflict_names a)" ""
check_eq "A: stats back to zero" "$(stat_of a conflicts)" 0
check_ok "B takes the loser's value" wait_for 10 file_is "$B/Person/bob/phone" $'a2\n'
check_ok "B: conflict gone" wait_for 10 bash -c "[ -z \"\$(ls -A '$B/Person/bob/.conflicts')\" ]"
check_eq "B: not in .node/conflicts" "$(cat "$B/.node/conflicts")" ""
check_eq "B: stats back to zero" "$(stat_of b conflicts)" 0

start_node c "${opts_c[@]}"
caught_up() {
  [ "$(stat_of c updates_stored)" == "$(stat_of a updates_stored)" ]
}
check_ok "C catches up" wait_for 15 caught_up
check_eq "C: right after catching up, no conflict listed" "$(cat "$C/.node/conflicts")" ""
check_eq "C: nor in .conflicts" "$(conflict_names c)" ""
check_eq "C: stats zero" "$(stat_of c conflicts)" 0
check_file "C: the loser's value" "$C/Person/bob/phone" $'a2\n'
check_ok "convergence after mv" wait_for 10 converged

stop_node c
stop_node b
stop_node a
finish
