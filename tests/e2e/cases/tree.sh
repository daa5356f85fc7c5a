# SPDX-License-Identifier: MIT
# tree.sh - the issue's walkthrough on one node: every command behaves as on a
# local disk, the history chain verifies, and a remount shows the same tree.
. "$(dirname "$0")/../lib.sh"

start_node a
M=$T/a
cd "$M" || exit 1

check_ok "mkdir model" mkdir Person
check_ok "mkdir object" mkdir Person/bob
echo Bob > Person/bob/name || fail "echo >"
echo 1234 > Person/bob/salary || fail "echo > salary"
echo tag1 >> Person/bob/tags; echo tag2 >> Person/bob/tags
mkdir Person/bob/address && echo Paris > Person/bob/address/city || fail "dict"
check_ok "sed -i" sed -i 's/Bob/Robert/' Person/bob/name
check_ok "vim -es" vim -es -u NONE -c '%s/1234/1300/' -c wq Person/bob/salary
check_ok "cp" cp /etc/hostname Person/bob/host
check_file "cp content" Person/bob/host "$(cat /etc/hostname)
"
check_ok "truncate" truncate -s 0 Person/bob/host

check_file "name" Person/bob/name $'Robert\n'
check_file "salary" Person/bob/salary $'1300\n'
check_file "tags" Person/bob/tags $'tag1\ntag2\n'
check_file "city" Person/bob/address/city $'Paris\n'
check_file "host" Person/bob/host ""

key=$(cat Person/bob/.owner)
check_eq ".owner is 64 hex" "$(printf %s "$key" | grep -cE '^[0-9a-f]{64}$')" 1
check_file ".id" Person/bob/.id "Person/bob $key
"
cat Person/bob/.history > "$T/history"
if verify_history "$T/history"; then pass; else fail "history chain"; fi
check_eq "history ops" "$(awk '{print $5 ":" $6}' "$T/history" | tr '\n' ' ')" \
  "create:- set:name set:salary append:tags append:tags dict-create:address set:address/city set:name set:salary set:host set:host "
check_eq "history signer is the object" "$(awk '{print $4}' "$T/history" | sort -u)" "$key"

# ls -l: real sizes; dot entries are not listed but reachable
check_eq "ls" "$(ls Person/bob | tr '\n' ' ')" "address host name salary tags "
check_eq "ls -a hides dot entries" "$(ls -a Person/bob | grep -c '^\.[a-z]')" 0
check_eq "size" "$(stat -c %s Person/bob/name)" 7
check_eq "grep -r" "$(grep -r Paris .)" "./Person/bob/address/city:Paris"
check_eq "find" "$(find . -name city)" "./Person/bob/address/city"
check_eq "mtime is recent" "$(( $(date +%s) - $(stat -c %Y Person/bob/name) < 60 ))" 1

# printf, cat >, tee, tee -a, touch
printf 'a\tb' > Person/bob/p
check_file "printf" Person/bob/p $'a\tb'
echo hello | cat > Person/bob/c
check_file "cat >" Person/bob/c $'hello\n'
echo one | tee Person/bob/t >/dev/null
echo two | tee -a Person/bob/t >/dev/null
check_file "tee -a" Person/bob/t $'one\ntwo\n'
check_ok "touch new" touch Person/bob/empty
check_file "touch" Person/bob/empty ""
check_ok "touch existing" touch Person/bob/name
check_file "touch keeps value" Person/bob/name $'Robert\n'

# binary values are stored exactly
head -c 4096 /dev/urandom > "$T/bin"
cp "$T/bin" Person/bob/bin
check_ok "binary value" cmp "$T/bin" Person/bob/bin

# the tree survives a remount
(cd "$M" && find . -type f | sort | xargs md5sum) > "$T/before"
cat Person/bob/.history > "$T/history"
cd "$T" || exit 1
stop_node a
start_node a
(cd "$M" && find . -type f | sort | xargs md5sum) > "$T/after"
check_ok "same tree after remount" cmp "$T/before" "$T/after"
cat "$M/Person/bob/.history" > "$T/history2"
check_ok "history after remount" cmp "$T/history" "$T/history2"
cd "$M" || exit 1

# rm and rm -r
check_ok "rm field" rm Person/bob/host
check_fails "rm'd field is gone" "No such file" cat Person/bob/host
check_eq "delete in history" "$(tail -n 1 Person/bob/.history | awk '{print $5 ":" $6}')" "delete:host"
check_ok "rm -r object" rm -r Person/bob
check_fails "object gone" "No such file" ls Person/bob
check_eq "model empty" "$(ls Person | wc -l)" 0
check_ok "rmdir empty model" rmdir Person
check_eq "root empty" "$(ls | wc -l)" 0

# a new object with an old name gets a new key
mkdir -p Person/bob
check_ok "new key" test "$(cat Person/bob/.owner)" != "$key"

cd "$T" || exit 1
stop_node a
finish
