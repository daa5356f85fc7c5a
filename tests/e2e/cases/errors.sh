# SPDX-License-Identifier: MIT
# errors.sh - bad input gets the errno a user expects, and changes nothing.
. "$(dirname "$0")/../lib.sh"

start_node a -o max_value=1K
M=$T/a
cd "$M" || exit 1
mkdir -p Person/bob/address
echo Bob > Person/bob/name

long=$(printf 'x%.0s' $(seq 1 256))
ok255=$(printf 'y%.0s' $(seq 1 255))
check_fails "256-byte model" "File name too long" mkdir "$long"
check_fails "256-byte object" "File name too long" mkdir "Person/$long"
check_fails "256-byte field" "File name too long" sh -c "echo x > Person/bob/$long"
check_ok "255-byte field" sh -c "echo x > Person/bob/$ok255"
check_file "255-byte field value" "Person/bob/$ok255" $'x\n'
check_fails "name with / (missing parent)" "No such file" mkdir Person/no/such
check_fails "dot model" "Invalid argument" mkdir .git
check_fails "dot dict" "Invalid argument" mkdir Person/bob/.hidden

# values past max_value
head -c 2000 /dev/zero > "$T/big"
check_fails "write past max_value" "File too large" cp "$T/big" Person/bob/name
check_file "old value kept" Person/bob/name $'Bob\n'
head -c 1000 /dev/zero > "$T/mid"
cp "$T/mid" Person/bob/grow
check_fails "append past max_value" "File too large" sh -c "cat '$T/mid' >> Person/bob/grow"
check_eq "append left value" "$(stat -c %s Person/bob/grow)" 1000
check_fails "truncate past max_value" "File too large" truncate -s 4096 Person/bob/name

# read-only entries
check_fails "write .history" "Operation not permitted" sh -c 'echo x > Person/bob/.history'
check_fails "write .id" "Operation not permitted" sh -c 'echo x >> Person/bob/.id'
check_fails "write .owner" "Operation not permitted" sh -c 'echo x > Person/bob/.owner'
check_fails "rm .history" "Operation not permitted" rm Person/bob/.history
check_fails "write .node/id" "Operation not permitted" sh -c 'echo x > .node/id'
check_fails "mkdir in .node" "Operation not permitted" mkdir .node/x

# tree rules
check_fails "rmdir non-empty model" "Directory not empty" rmdir Person
check_fails "rmdir non-empty object" "Directory not empty" rmdir Person/bob
echo Paris > Person/bob/address/city
check_fails "rmdir non-empty dict" "Directory not empty" rmdir Person/bob/address
check_fails "mkdir existing model" "File exists" mkdir Person
check_fails "mkdir existing object" "File exists" mkdir Person/bob
check_fails "dict in a dict" "Operation not permitted" mkdir Person/bob/address/deeper
check_fails "file at the root" "Operation not permitted" sh -c 'echo x > stray'
check_fails "file in a model" "Operation not permitted" sh -c 'echo x > Person/stray'
check_fails "write to a dict" "Is a directory" sh -c 'echo x > Person/bob/address'
check_fails "field as a directory" "Not a directory" mkdir Person/bob/name/x
check_fails "cat missing" "No such file" cat Person/bob/missing
check_fails "object in a missing model" "No such file" mkdir Nobody/bob
rename() { perl -e 'rename($ARGV[0], $ARGV[1]) or die "$!\n"' "$@"; }
check_fails "rename an object" "Invalid cross-device link" rename Person/bob Person/robert
check_fails "rename a model" "Invalid cross-device link" rename Person People
mkdir Person/alice
check_fails "rename a field across objects" "Invalid cross-device link" \
  rename Person/bob/name Person/alice/name
rmdir Person/alice
check_eq "history unchanged by errors" \
  "$(awk '{print $5 ":" $6}' Person/bob/.history | tr '\n' ' ')" \
  "create:- dict-create:address set:name set:$ok255 set:grow set:address/city "
check_eq "no object left behind" "$(ls Person | tr '\n' ' ')" "bob "

cd "$T" || exit 1
stop_node a

# a read-only mount refuses every change with EROFS
start_node a -o ro
cd "$M" || exit 1
check_file "ro reads" Person/bob/name $'Bob\n'
check_fails "ro write" "Read-only file system" sh -c 'echo x > Person/bob/name'
check_fails "ro mkdir" "Read-only file system" mkdir Person/alice
check_fails "ro rm" "Read-only file system" rm Person/bob/name
check_fails "ro rmdir" "Read-only file system" rmdir Person/bob/address
check_fails "ro truncate" "Read-only file system" truncate -s 0 Person/bob/name
cd "$T" || exit 1
stop_node a
finish
