# SPDX-License-Identifier: MIT
# authz.sh - who may write an object, decided by keys: the owner lists
# other objects in .authorized; a node holding such an object's key signs
# as it (-o as= or .node/as) and its writes are accepted on every node,
# strict ones included; revoking (sed -i on .authorized) ends that. A third
# node that holds no key stores and relays it all and decides the same.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P
start_node b -o peer=wss://127.0.0.1:$P
start_node c -o peer=wss://127.0.0.1:$P
A=$T/a B=$T/b C=$T/c
check_ok "A has two links up" wait_for 10 links_up a 2

mkdir -p "$A/Person/bob"
echo Bob > "$A/Person/bob/name"
check_ok "B has bob" wait_for 10 file_is "$B/Person/bob/name" $'Bob\n'
mkdir "$B/Person/chief"                   # chief's key lives on B
check_ok "A has chief" wait_for 10 test -d "$A/Person/chief"
check_ok "C has chief" wait_for 10 test -d "$C/Person/chief"
CHIEF=$(cat "$B/Person/chief/.owner")
LINE="Person/chief $CHIEF"                  # how a grant reads: the name as listed, and the key

# Nobody but bob's owner is listed yet: B may not write bob.
check_file "bob's .authorized starts empty" "$A/Person/bob/.authorized" ""
check_eq "bob/name on B: no w" "$(stat -c %A "$B/Person/bob/name")" "-r--r--r--"
check_eq "bob's .authorized on A (the owner): writable" \
  "$(stat -c %A "$A/Person/bob/.authorized")" "-rw-r--r--"
check_fails "B writes bob unlisted" "Permission denied" bash -c "echo 1 > '$B/Person/bob/salary'"
check_fails "B lists chief itself" "Permission denied" \
  bash -c "echo Person/chief >> '$B/Person/bob/.authorized'"
check_fails "A lists an unknown object" "Invalid argument" \
  bash -c "echo Person/nobody >> '$A/Person/bob/.authorized'"
check_file "a refused list changes nothing" "$A/Person/bob/.authorized" ""

echo Person/chief >> "$A/Person/bob/.authorized"
check_file "A lists chief, with its key" "$A/Person/bob/.authorized" "$LINE"$'\n'
check_ok "B sees the list" wait_for 10 file_is "$B/Person/bob/.authorized" "$LINE"$'\n'
check_ok "C sees the list" wait_for 10 file_is "$C/Person/bob/.authorized" "$LINE"$'\n'
# What .authorized shows can be written back: the key decides, the name is a comment.
cp "$A/Person/bob/.authorized" "$T/list"
sed -i 's|^Person/chief |Person/whatever |' "$T/list"
check_ok "A writes back a line with a key" cp "$T/list" "$A/Person/bob/.authorized"
check_file "the same grant" "$A/Person/bob/.authorized" "$LINE"$'\n'
check_fails "a line that is not a grant" "Invalid argument" \
  bash -c "echo 'Person/chief and more words' >> '$A/Person/bob/.authorized'"
check_file "a refused line changes nothing" "$A/Person/bob/.authorized" "$LINE"$'\n'

# B signs as chief from now on.
check_fails "B cannot sign as an object it lacks the key of" "Operation not permitted" \
  bash -c "echo Person/bob > '$B/.node/as'"
check_fails "A cannot name a missing object" "Invalid argument" \
  bash -c "echo Person/nobody > '$A/.node/as'"
echo "$CHIEF" > "$B/.node/as"
check_file ".node/as on B, set by key" "$B/.node/as" "$LINE"$'\n'
: > "$B/.node/as"
check_file ".node/as emptied: B signs as the node" "$B/.node/as" ""
echo Person/chief > "$B/.node/as"
check_file ".node/as on B, set by name" "$B/.node/as" "$LINE"$'\n'
echo 1500 > "$B/Person/bob/salary"
check_file "B wrote as chief" "$B/Person/bob/salary" $'1500\n'
check_ok "A accepts chief's write" wait_for 10 file_is "$A/Person/bob/salary" $'1500\n'
check_ok "C (strict, no keys) accepts it" wait_for 10 file_is "$C/Person/bob/salary" $'1500\n'
check_eq "signed by chief's key" "$(tail -n 1 "$A/Person/bob/.history" | cut -d' ' -f4,5,6)" \
  "$CHIEF set salary"

# Revoke with an editor's way: sed -i writes a temporary file and renames it.
sed -i '/chief/d' "$A/Person/bob/.authorized"
check_file "A's list is empty again" "$A/Person/bob/.authorized" ""
check_ok "B sees the revocation" wait_for 10 file_is "$B/Person/bob/.authorized" ""
check_fails "B's write after revocation" "Permission denied" \
  bash -c "echo 1600 > '$B/Person/bob/salary'"
echo 1700 > "$A/Person/bob/salary"
check_ok "C has the owner's later write" wait_for 10 file_is "$C/Person/bob/salary" $'1700\n'
check_file "B has it too" "$B/Person/bob/salary" $'1700\n'

# -o as= at mount: the object must exist here and its key must be here.
stop_node b
"$DINEMICFS" -o as=Person/bob "$T/b.state" "$T/b" 2>"$T/as.err" && fail "as= without the key mounted"
check_ok "as= without the key is refused" grep -q "does not hold its key" "$T/as.err"
start_node b -o peer=wss://127.0.0.1:$P,as=Person/chief
check_file "as= sets .node/as" "$B/.node/as" "$LINE"$'\n'
stop_node b
start_node b -o peer=wss://127.0.0.1:$P,as=$CHIEF
check_file "as= by key" "$B/.node/as" "$LINE"$'\n'
finish
