# SPDX-License-Identifier: MIT
# names.sh - names against a hostile peer, on three nodes (A listens; B and
# C link to it), every node checked (THREATS.md findings 4 and 15):
# a back-dated OBJECT_CREATE by a made-up key takes the name Person/chief,
# visibly and logged, but no grant or signer follows it: a grant by the
# name is refused as ambiguous, a grant by key works, -o as=Person/chief
# still starts and signs as the real chief, and the squatter's write to bob
# is refused everywhere. Names with control bytes are refused from the peer
# and locally; a peer's field named notes~ is shown and written through as
# a field, while a scratch name no field has stays a local scratch file.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 1)
make_netkey
LINK=peer=wss://127.0.0.1:$P,network_key=$NETKEY
start_node a -o listen=127.0.0.1:$P,network_key=$NETKEY
start_node b -o $LINK
start_node c -o $LINK
A=$T/a B=$T/b C=$T/c
check_ok "A has two links up" wait_for 10 links_up a 2

# mk KEY NAME ARGS...: mkupdate make ARGS --out $T/NAME.upd, signed by $T/KEY.key
mk() {
  local k=$1 n=$2
  shift 2
  "$MKUPDATE" make --key "$T/$k.key" "$@" --out "$T/$n.upd"
}

# C's listener records the object name it is told for each create.
cat > "$C/.actions/on_create" <<EOF
#!/bin/sh
printf '%s\n' "\$DINEMIC_OBJECT" >> "$T/c-created"
EOF
chmod +x "$C/.actions/on_create"

mkdir -p "$A/Person/bob"
echo Bob > "$A/Person/bob/name"
mkdir "$B/Person/chief"                   # the real chief's key lives on B
for n in a b c; do
  check_ok "$n: has bob" wait_for 10 file_is "$T/$n/Person/bob/name" $'Bob\n'
  check_ok "$n: has chief" wait_for 10 test -d "$T/$n/Person/chief"
done
BOB=$(cat "$A/Person/bob/.owner")
CHIEF=$(cat "$B/Person/chief/.owner")
DEMOTED=chief~${CHIEF:0:8}

# ---- finding 4: a back-dated create takes the name ----------------------------
SQUAT=$("$MKUPDATE" newkey "$T/squat.key")
mk squat squat --op object-create --clock 1 --entity self --model Person --name chief >/dev/null
check_ok "send the squatter's create to A" hostile_send $P "$T/squat.upd"
for n in a b c; do
  check_ok "$n: the squatter shows as chief" \
    wait_for 10 file_is "$T/$n/Person/chief/.owner" "$SQUAT"$'\n'
  check_file "$n: the real chief shows as $DEMOTED" "$T/$n/Person/$DEMOTED/.owner" "$CHIEF"$'\n'
  check_ok "$n: the move is logged, with both keys" \
    grep -q "name Person/chief passes from object $CHIEF to object $SQUAT" "$T/$n/.node/log"
done

# A later claim of the name, stamped now, shows demoted; listeners are told
# the name each create shows under (the squatter takes "chief").
LATE=$("$MKUPDATE" newkey "$T/late.key")
mk late late --op object-create --clock now --entity self --model Person --name chief >/dev/null
check_ok "send the later claim to A" hostile_send $P "$T/late.upd"
for n in a b c; do
  check_ok "$n: the later claim shows as chief~${LATE:0:8}" \
    wait_for 10 file_is "$T/$n/Person/chief~${LATE:0:8}/.owner" "$LATE"$'\n'
done
check_file "C's listener got the listed names" "$T/c-created" \
  $'bob\nchief\nchief\nchief~'"${LATE:0:8}"$'\n'

# A grant by the name is refused: which object holds it depends on clocks
# anyone can choose. By key it works, whatever name stands beside the key.
check_fails "A grants by the ambiguous name" "Invalid argument" \
  bash -c "echo Person/chief >> '$A/Person/bob/.authorized'"
check_ok "A logs why, and what to do" \
  grep -q "Person/chief: more than one object was created under this name.*name the one you mean by its key" \
  "$A/.node/log"
echo "Person/chief $CHIEF" >> "$A/Person/bob/.authorized"
for n in a b c; do
  check_ok "$n: bob grants the real chief, shown with its key" \
    wait_for 10 file_is "$T/$n/Person/bob/.authorized" "Person/$DEMOTED $CHIEF"$'\n'
done

# -o as=Person/chief still starts B, signing as the chief whose key it holds.
stop_node b
start_node b -o $LINK,as=Person/chief
check_file "B's .node/as: the real chief, by key" "$B/.node/as" "Person/$DEMOTED $CHIEF"$'\n'
check_ok "B's link is up again" wait_for 10 links_up b 1
echo 1500 > "$B/Person/bob/salary"
for n in a b c; do
  check_ok "$n: chief's write to bob is applied" \
    wait_for 10 file_is "$T/$n/Person/bob/salary" $'1500\n'
  check_eq "$n: signed by the real chief" \
    "$(awk '$5 == "set" && $6 == "salary" { print $4 }' "$T/$n/Person/bob/.history")" "$CHIEF"
done

# The squatter writes bob, chained to bob's head: refused on every node.
HEAD=$(awk '$6 == "salary" { h = $2 } END { print h }' "$A/Person/bob/.history")
mk squat pwn --op set --clock now --entity "$BOB" --model Person --name name --value pwned \
  --prev "$HEAD" >/dev/null
declare -A HELD
for n in a b c; do HELD[$n]=$(stat_of $n updates_held); done
check_ok "send the squatter's write to A" hostile_send $P "$T/pwn.upd"
held_above() { [ "$(stat_of "$1" updates_held)" -gt "$2" ]; }
for n in a b c; do
  check_ok "$n: holds the squatter's write" wait_for 10 held_above $n "${HELD[$n]}"
  check_file "$n: bob's name is unchanged" "$T/$n/Person/bob/name" $'Bob\n'
done

# ---- finding 15: control bytes, and scratch-like names from a peer ------------
EVIL=$("$MKUPDATE" newkey "$T/evil.key")
mk evil model --op model-create --clock now --entity model --model Junk >/dev/null
JO=$(mk evil object --op object-create --clock now+1 --entity self --model Junk --name o)
FAKE=$'x\n1800000000000.0 '$(printf 'a%.0s' {1..64})' '$(printf 'b%.0s' {1..64})' '
FAKE+=$(printf 'c%.0s' {1..64})$' set salary\e]2;owned\a'
mk evil fake --op set --clock now+2 --entity self --model Junk --name "$FAKE" --value v \
  --prev "$JO" >/dev/null
mk evil notes --op set --clock now+3 --entity self --model Junk --name 'notes~' \
  --value remote --prev "$JO" >/dev/null
check_ok "send the model and the object to A" hostile_send $P "$T/model.upd" "$T/object.upd"
check_ok "A has Junk/o" wait_for 10 test -d "$A/Junk/o"
# An editor's backup left on A before the peer's field arrives: a scratch file, for now.
echo stale > "$A/Junk/o/notes~"
check_file "A's scratch notes~" "$A/Junk/o/notes~" $'stale\n'
DROPPED=$(stat_of a updates_dropped)
check_ok "send the forged name and notes~ to A" hostile_send $P "$T/fake.upd" "$T/notes.upd"
for n in a b c; do
  check_ok "$n: notes~ is the peer's field, not a scratch file" \
    wait_for 10 file_is "$T/$n/Junk/o/notes~" remote
  check_eq "$n: Junk/o lists notes~ alone" "$(ls "$T/$n/Junk/o")" "notes~"
  check_eq "$n: .history has the create and notes~ only" \
    "$(awk '{ print $5, $6 }' "$T/$n/Junk/o/.history")" $'create -\nset notes~'
  check_ok "$n: no ESC and no forged line in .history" \
    bash -c "! grep -q -e $'\e' -e owned -e salary '$T/$n/Junk/o/.history'"
done
check_ok "A dropped the control-byte name as malformed" \
  test "$(stat_of a updates_dropped)" -gt "$DROPPED"
check_ok "A logs it" grep -q "is malformed or badly signed; dropped" "$A/.node/log"
check_eq "B never got it (not relayed)" "$(stat_of b updates_dropped)" 0
check_eq "C never got it (not relayed)" "$(stat_of c updates_dropped)" 0

# With the object's key, A writes notes~: the field, replicated, not a scratch file.
cp "$T/evil.key" "$T/a.state/keys/$EVIL.key"
check_ok "A writes notes~ once it holds the key" \
  wait_for 5 bash -c "echo local > '$A/Junk/o/notes~'"
for n in a b c; do
  check_ok "$n: notes~ holds A's value" wait_for 10 file_is "$T/$n/Junk/o/notes~" $'local\n'
  check_eq "$n: still one notes~" "$(ls "$T/$n/Junk/o")" "notes~"
done
check_eq "A's write is in the history, signed by the object" \
  "$(awk '$6 == "notes~" { print $4 }' "$A/Junk/o/.history" | tail -n 1)" "$EVIL"

# A scratch name no field has is a local scratch file, as before.
echo mine > "$A/Junk/o/other~"
check_file "A reads its scratch file" "$A/Junk/o/other~" $'mine\n'
echo sync > "$A/Junk/o/sync"
for n in b c; do
  check_ok "$n: has what A wrote after the scratch file" \
    wait_for 10 file_is "$T/$n/Junk/o/sync" $'sync\n'
  check_ok "$n: no other~" test ! -e "$T/$n/Junk/o/other~"
done
check_ok "other~ is not in A's history" bash -c "! grep -q 'other~' '$A/Junk/o/.history'"

# Control bytes in local names: refused, nothing made anywhere.
check_fails "mkdir of a model with a newline" "Invalid argument" mkdir "$A/Bad"$'\n'"Model"
check_fails "a field with an ESC" "Invalid argument" touch "$A/Person/bob/a"$'\e'"b"
check_fails "mkdir of an object with a tab" "Invalid argument" mkdir "$A/Person/a"$'\t'"b"
check_fails "rename to a name with a DEL" "Invalid argument" \
  perl -e 'rename($ARGV[0], $ARGV[1]) or die "$!\n"' "$A/Person/bob/name" "$A/Person/bob/x"$'\x7f'
check_fails "a dict key with a newline" "Invalid argument" \
  bash -c "mkdir '$A/Person/bob/tags' && touch '$A/Person/bob/tags/k'$'\n'"
echo after > "$A/Person/bob/last"
for n in a b c; do
  check_ok "$n: has what A wrote after" wait_for 10 file_is "$T/$n/Person/bob/last" $'after\n'
  check_eq "$n: no name with a control byte" \
    "$(find "$T/$n" -name $'*[\x01-\x1f\x7f]*' | wc -l)" 0
  check_file "$n: bob's name is still there" "$T/$n/Person/bob/name" $'Bob\n'
done
finish
