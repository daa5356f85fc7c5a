# SPDX-License-Identifier: MIT
# editors.sh - sed -i, vim, mv and scratch files: one update per save, and
# scratch files never become fields.
. "$(dirname "$0")/../lib.sh"

start_node a
M=$T/a
cd "$M" || exit 1
mkdir -p Person/bob/address
echo Bob > Person/bob/name
echo 1234 > Person/bob/salary
updates() { wc -l < Person/bob/.history; }

n=$(updates)
check_ok "sed -i" sed -i 's/Bob/Robert/' Person/bob/name
check_file "sed result" Person/bob/name $'Robert\n'
check_eq "sed -i is one update" "$(updates)" $((n + 1))
check_eq "sed left no scratch file" "$(ls -a Person/bob | grep -c '^sed')" 0

n=$(updates)
check_ok "vim -es" vim -es -u NONE -c '%s/1234/1300/' -c wq Person/bob/salary
check_file "vim result" Person/bob/salary $'1300\n'
check_eq "vim save is one update" "$(updates)" $((n + 1))
n=$(updates)
check_ok "vim with backup and swap" vim -es -u NONE -c 'set backup writebackup swapfile' \
  -c '%s/1300/1400/' -c wq Person/bob/salary
check_file "vim backup result" Person/bob/salary $'1400\n'
check_eq "vim backup save adds no stray field" "$(ls Person/bob | tr '\n' ' ')" "address name salary "

# scratch files stay local and out of the history
n=$(updates)
echo swap > Person/bob/.name.swp
echo backup > Person/bob/name~
echo probe > Person/bob/4913
echo tmp > Person/bob/sedAB12cd
check_file "scratch readable" Person/bob/.name.swp $'swap\n'
check_eq "scratch adds no update" "$(updates)" "$n"
check_eq "scratch not in history" "$(grep -cE 'swp|~|4913|sedAB' Person/bob/.history)" 0
check_ok "rm scratch" rm Person/bob/.name.swp Person/bob/4913 Person/bob/sedAB12cd

# renaming a scratch file over a field commits its content as one update
printf 'new name\n' > Person/bob/.tmp
check_ok "mv scratch over field" mv Person/bob/.tmp Person/bob/name
check_file "renamed content" Person/bob/name $'new name\n'
check_eq "rename is one update" "$(updates)" $((n + 1))
check_fails "scratch gone" "No such file" cat Person/bob/.tmp
check_ok "mv backup over field" mv Person/bob/name~ Person/bob/name
check_file "backup content" Person/bob/name $'backup\n'

# mv of a field inside an object; into a dict
check_ok "mv field" mv Person/bob/salary Person/bob/pay
check_file "moved value" Person/bob/pay $'1400\n'
check_fails "old name gone" "No such file" cat Person/bob/salary
check_ok "mv into dict" mv Person/bob/pay Person/bob/address/pay
check_file "value in dict" Person/bob/address/pay $'1400\n'

# mv into the mount from outside; mv of an object copies it under a new key
echo outside > "$T/outside"
check_ok "mv into mount" mv "$T/outside" Person/bob/note
check_file "moved in" Person/bob/note $'outside\n'
key=$(cat Person/bob/.owner)
check_ok "mv object" mv Person/bob Person/robert
check_file "copied field" Person/robert/note $'outside\n'
check_file "copied dict key" Person/robert/address/pay $'1400\n'
check_fails "old object gone" "No such file" ls Person/bob
check_ok "new key" test "$(cat Person/robert/.owner)" != "$key"

# cp -r copies data, not identity
check_ok "cp -r out" cp -r Person/robert "$T/copy"
check_eq "copy has data only" "$(cd "$T/copy" && find . | sort | tr '\n' ' ')" \
  ". ./address ./address/pay ./name ./note "
check_ok "cp -r back in" cp -r "$T/copy" Person/copy
check_file "copied back" Person/copy/address/pay $'1400\n'

cd "$T" || exit 1
stop_node a
finish
