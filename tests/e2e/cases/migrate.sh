# SPDX-License-Identifier: MIT
# migrate.sh - a state directory made by release 0.1.0 (tests/e2e/fixtures,
# see its README) is converted at the first start: every value, the list,
# the dict, .encrypted and .authorized survive, salary stays sealed (a fresh
# peer without keys gets EACCES), new writes work and replicate, and a
# second start converts nothing.
. "$(dirname "$0")/../lib.sh"

FIXTURE=$CASES/../fixtures/store-0.1.0.tar.gz
mkdir "$T/unpack"
tar -C "$T/unpack" -xzf "$FIXTURE" || fail "unpacking $FIXTURE"
mv "$T/unpack/a" "$T/a.state"
chmod 700 "$T/a.state"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P
A=$T/a
check_eq "the conversion is logged once" "$(grep -c 'converted 3 models of release 0.1.0' "$T/a.log")" 1

# What the README of the fixture made, as it was.
check_eq "models (Gone stays removed)" "$(ls "$A" | tr '\n' ' ')" "Empty Person "
check_eq "objects" "$(ls "$A/Person" | tr '\n' ' ')" "bob chief "
check_file "a value" "$A/Person/bob/name" $'Bob\n'
check_file "the sealed value, on the node holding its key" "$A/Person/bob/salary" $'1000\n'
check_file "the list" "$A/Person/bob/list" $'one\ntwo\n'
check_ok "the dict" test -d "$A/Person/bob/tags"
check_file "its key" "$A/Person/bob/tags/color" $'red\n'
check_file "chief's value" "$A/Person/chief/title" $'boss\n'
check_file ".encrypted" "$A/Person/.encrypted" $'salary\n'
check_eq ".authorized names chief" "$(cut -d' ' -f1 "$A/Person/bob/.authorized")" "Person/chief"
check_ok "bob's history links up" verify_history "$A/Person/bob/.history"
check_eq "nothing corrupt" "$(stat_of a corrupt_records)" 0

# A fresh peer without keys gets everything, and no salary.
start_node b -o peer=wss://127.0.0.1:$P
B=$T/b
check_ok "B catches up" wait_for 20 file_is "$B/Person/chief/title" $'boss\n'
check_eq "B: the models" "$(ls "$B" | tr '\n' ' ')" "Empty Person "
check_ok "B: chief, as on A" same_trees "$A/Person/chief" "$B/Person/chief"
check_file "B: a value" "$B/Person/bob/name" $'Bob\n'
check_file "B: the list" "$B/Person/bob/list" $'one\ntwo\n'
check_file "B: the dict's key" "$B/Person/bob/tags/color" $'red\n'
check_file "B: .encrypted" "$B/Person/.encrypted" $'salary\n'
check_eq "B: .authorized" "$(cut -d' ' -f1 "$B/Person/bob/.authorized")" "Person/chief"
check_ok "B has salary" test -e "$B/Person/bob/salary"
check_fails "B cannot read salary (EACCES)" "Permission denied" cat "$B/Person/bob/salary"

# New writes, on the converted node and back from the peer.
echo SALARY-NEW-4417 > "$A/Person/bob/salary"
echo Robert > "$A/Person/bob/name"
echo three >> "$A/Person/bob/list"
echo blue > "$A/Person/bob/tags/color"
check_file "A: the new salary" "$A/Person/bob/salary" $'SALARY-NEW-4417\n'
check_ok "B: the new name" wait_for 10 file_is "$B/Person/bob/name" $'Robert\n'
check_ok "B: the longer list" wait_for 10 file_is "$B/Person/bob/list" $'one\ntwo\nthree\n'
check_ok "B: the new key value" wait_for 10 file_is "$B/Person/bob/tags/color" $'blue\n'
check_fails "B: the new salary is sealed too" "Permission denied" cat "$B/Person/bob/salary"
check_ok "B's store holds no clear salary" bash -c "! grep -rqa SALARY-NEW-4417 '$T/b.state'"
mkdir "$B/Person/carol" && echo hi > "$B/Person/carol/note"
check_ok "A: an object made on B" wait_for 10 file_is "$A/Person/carol/note" $'hi\n'

# The model rules of today on the converted models.
check_fails "rmdir of a model with objects" "Directory not empty" rmdir "$A/Person"
check_ok "rmdir of the empty model" rmdir "$A/Empty"
check_ok "B: Empty goes" wait_for 10 bash -c "! test -e '$B/Empty'"
check_ok "mkdir of the removed model" mkdir "$A/Gone"
check_ok "B: Gone is back" wait_for 10 test -d "$B/Gone"

# A second start converts nothing and keeps everything.
stop_node a
start_node a -o listen=127.0.0.1:$P
check_eq "no second conversion" "$(grep -c 'converted .* models' "$T/a.log")" 1
check_file "after a restart: the salary" "$A/Person/bob/salary" $'SALARY-NEW-4417\n'
check_file "after a restart: .encrypted" "$A/Person/.encrypted" $'salary\n'
check_eq "after a restart: models" "$(ls "$A" | tr '\n' ' ')" "Gone Person "
check_ok "A and B agree" wait_for 10 same_trees "$A/Person/carol" "$B/Person/carol"

stop_node b
stop_node a
finish
