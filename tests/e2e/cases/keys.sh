# SPDX-License-Identifier: MIT
# keys.sh - `dinemicfs key`: an object's private key exported from the node
# that created it and imported into a running node makes that node its
# writer (no restart); key files open to others are refused; the node key
# moves to a fresh state directory, which then starts as the same node
# (replacing a dead one), and is never replaced under a running node.
. "$(dirname "$0")/../lib.sh"

key() { "$DINEMICFS" key "$@"; }

out=$("$DINEMICFS" --help)
check_eq "--help names the key command" "$(printf '%s\n' "$out" | grep -c ' key export')" 1
check_ok "key --help" key --help
check_fails "key alone is a usage error" "usage: dinemicfs key" key

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P
start_node b -o peer=wss://127.0.0.1:$P
A=$T/a B=$T/b
check_ok "A and B linked" wait_for 10 links_up a 1

mkdir "$A/Person" "$A/Person/bob"
echo Bob > "$A/Person/bob/name"
check_ok "B has bob" wait_for 10 file_is "$B/Person/bob/name" $'Bob\n'
BOB=$(cut -d' ' -f2 "$A/Person/bob/.id")
check_eq "bob's key in .id" "$(grep -cE '^[0-9a-f]{64}$' <<<"$BOB")" 1

# B holds no key of bob's: strict policy, no w bit, the write is refused.
check_eq "bob/name on B: no w" "$(stat -c %A "$B/Person/bob/name")" "-r--r--r--"
check_fails "B writes bob without its key" "Permission denied" \
  bash -c "echo Bobby > '$B/Person/bob/name'"
check_file "B's refused write changed nothing" "$B/Person/bob/name" $'Bob\n'

# Export from A's state dir, naming the object by its directory in A's mount.
check_ok "export bob's key" key export "$T/a.state" "$A/Person/bob" "$T/bob.key"
check_eq "exported key mode" "$(stat -c %a "$T/bob.key")" 600
check_fails "export never overwrites" "exists" \
  key export "$T/a.state" "$BOB" "$T/bob.key"
check_fails "B's state dir does not hold bob's key" "does not hold the private key" \
  key export "$T/b.state" "$B/Person/bob" "$T/none.key"
check_ok "a failed export writes nothing" test ! -e "$T/none.key"

# A copy readable by others is refused, with a message; nothing is imported.
cp "$T/bob.key" "$T/bob-open.key"
chmod 644 "$T/bob-open.key"
check_fails "import refuses a 644 key file" "open to group or others" \
  key import "$T/b.state" "$T/bob-open.key"
check_ok "nothing imported" test ! -e "$T/b.state/keys/$BOB.key"
printf 'not a key\n' > "$T/junk.key"
chmod 600 "$T/junk.key"
check_fails "import refuses a malformed file" "malformed" key import "$T/b.state" "$T/junk.key"

# Into B's running state dir: B writes bob from now on, without a restart.
check_eq "import prints the public key" "$(key import "$T/b.state" "$T/bob.key")" "$BOB"
check_eq "imported key mode" "$(stat -c %a "$T/b.state/keys/$BOB.key")" 600
again=$(key import "$T/b.state" "$T/bob.key" 2>&1)
check_eq "a second import succeeds" $? 0
check_ok "a second import says so" grep -q "already holds this key" <<<"$again"
check_ok "B writes bob now" wait_for 5 bash -c "echo Bobby > '$B/Person/bob/name'"
check_file "B has Bobby" "$B/Person/bob/name" $'Bobby\n'
check_ok "A shows Bobby" wait_for 10 file_is "$A/Person/bob/name" $'Bobby\n'
check_eq "signed by bob's own key" \
  "$(tail -n 1 "$A/Person/bob/.history" | cut -d' ' -f4,5,6)" "$BOB set name"
check_ok "bob/name on B: w" wait_for 5 \
  bash -c "[ \"\$(stat -c %A '$B/Person/bob/name')\" = -rw-r--r-- ]"
BNODE=$(cat "$B/.node/id")
check_eq "key list on B" "$(key list "$T/b.state")" "node $BNODE"$'\n'"object $BOB"

# The node key: never replaced under a running node.
ANODE=$(cat "$A/.node/id")
check_ok "export A's node key" key export "$T/a.state" node "$T/a-node.key"
check_ok "export B's node key" key export "$T/b.state" "$BNODE" "$T/b-node.key"
cp -p "$T/a.state/node.key" "$T/a-node.before"
check_fails "import --node into running A" "a node is running" \
  key import --node "$T/a.state" "$T/b-node.key"
check_ok "A's node key untouched" cmp "$T/a.state/node.key" "$T/a-node.before"
check_eq "A's node id untouched" "$(cat "$A/.node/id")" "$ANODE"

# A dies; D, prepared from nothing with A's node key (and bob's key), takes
# its place on its address, and B links to it as to A.
check_eq "import --node into a fresh dir" "$(key import --node "$T/d.state" "$T/a-node.key")" \
  "$ANODE"
check_eq "D's node key mode" "$(stat -c %a "$T/d.state/node.key")" 600
check_eq "D's state dir mode" "$(stat -c %a "$T/d.state")" 700
check_ok "bob's key into D" key import "$T/d.state" "$T/bob.key"
stop_node a
start_node d -o listen=127.0.0.1:$P
D=$T/d
check_file "D is A's node" "$D/.node/id" "$ANODE"$'\n'
check_ok "B links to D" wait_for 15 links_up d 1
check_ok "D catches up" wait_for 10 file_is "$D/Person/bob/name" $'Bobby\n'
echo Robert > "$D/Person/bob/name"
check_ok "B sees D's write" wait_for 10 file_is "$B/Person/bob/name" $'Robert\n'
check_fails "import --node into running D" "is running" \
  key import --node "$T/d.state" "$T/b-node.key"
finish
