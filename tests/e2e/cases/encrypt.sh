# SPDX-License-Identifier: MIT
# encrypt.sh - encrypted fields, the issue's example step by step on three
# nodes: A owns bob and lists salary in Person/.encrypted; B holds chief's
# key and reads salary only while chief is in bob's .authorized; C holds no
# key: it stores, relays and lists everything, reads no salary, and its
# store holds no clear value of one.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P
start_node b -o peer=wss://127.0.0.1:$P
start_node c -o peer=wss://127.0.0.1:$P
A=$T/a B=$T/b C=$T/c
check_ok "A has two links up" wait_for 10 links_up a 2

# C's listener records what it is told of every update.
cat > "$C/.actions/on_update" <<EOF
#!/bin/sh
printf '%s sealed=%s new=%s env=%s\n' "\$DINEMIC_FIELD" "\${DINEMIC_SEALED:-0}" "\$(cat)" \
  "\${DINEMIC_NEW-unset}" >> "$T/c-seen"
EOF
chmod +x "$C/.actions/on_update"

# On A: a node lists the encrypted fields.
mkdir -p "$A/Person/bob"
echo salary > "$A/Person/.encrypted"
check_file "A's .encrypted" "$A/Person/.encrypted" $'salary\n'
check_ok "B sees .encrypted" wait_for 10 file_is "$B/Person/.encrypted" $'salary\n'
check_ok "C sees .encrypted" wait_for 10 file_is "$C/Person/.encrypted" $'salary\n'
check_eq ".encrypted on A: writable" "$(stat -c %A "$A/Person/.encrypted")" "-rw-r--r--"
check_eq ".encrypted on B: writable too (any node adds names)" \
  "$(stat -c %A "$B/Person/.encrypted")" "-rw-r--r--"
check_fails "B cannot take off A's name" "Operation not permitted" \
  bash -c "printf 'name\n' | tee '$B/Person/.encrypted'"
check_fails "A: a bad field name" "Invalid argument" \
  bash -c "echo .hidden >> '$A/Person/.encrypted'"
check_file "a refused list changes nothing" "$A/Person/.encrypted" $'salary\n'
check_file "nor on B" "$B/Person/.encrypted" $'salary\n'

echo Bob > "$A/Person/bob/name"
echo 1234 > "$A/Person/bob/salary"
check_file "A reads salary" "$A/Person/bob/salary" $'1234\n'
check_eq "salary on A: clear size, rw for its user only" "$(stat -c '%A %s' "$A/Person/bob/salary")" \
  "-rw------- 5"

# On B: name is plain, salary is not readable.
check_ok "B has bob's name" wait_for 10 file_is "$B/Person/bob/name" $'Bob\n'
check_ok "B has salary" wait_for 10 test -e "$B/Person/bob/salary"
check_fails "B cannot read salary" "Permission denied" cat "$B/Person/bob/salary"
check_eq "salary on B: no r, no w, clear size" "$(stat -c '%A %s' "$B/Person/bob/salary")" \
  "---------- 5"
check_ok "C has salary" wait_for 10 test -e "$C/Person/bob/salary"
check_fails "C cannot read salary" "Permission denied" cat "$C/Person/bob/salary"
check_fails "grep -r on C skips it too" "Permission denied" grep -r 1234 "$C/Person"

# chief's keys live on B; A authorizes chief: B can read, old values too.
mkdir "$B/Person/chief"
check_ok "A has chief" wait_for 10 test -d "$A/Person/chief"
CHIEF=$(cat "$B/Person/chief/.owner")
echo Person/chief >> "$A/Person/bob/.authorized"
check_ok "B reads salary once chief is listed" wait_for 10 file_is "$B/Person/bob/salary" \
  $'1234\n'
# Mode bits follow once the kernel's attribute cache (1 s) expires.
check_ok "salary on B: r (its user only) now" wait_for 3 \
  bash -c "[ \"\$(stat -c %A '$B/Person/bob/salary')\" = -r-------- ]"
check_fails "C still cannot read salary" "Permission denied" cat "$C/Person/bob/salary"

# B signs as chief: authorized, accepted everywhere, readable by A and B.
echo Person/chief > "$B/.node/as"
echo 1500 > "$B/Person/bob/salary"
check_file "B wrote 1500" "$B/Person/bob/salary" $'1500\n'
check_ok "A reads chief's 1500" wait_for 10 file_is "$A/Person/bob/salary" $'1500\n'
check_ok "C applied chief's write" wait_for 10 \
  bash -c "tail -n 1 '$C/Person/bob/.history' | grep -q ' $CHIEF set salary\$'"
check_fails "C still cannot read" "Permission denied" cat "$C/Person/bob/salary"

# A grant comes with the object's first data key: chief writes carol's
# salary before carol's owner ever wrote an encrypted value.
mkdir "$A/Person/carol"
echo Person/chief > "$A/Person/carol/.authorized"
check_ok "B has carol's grant and key" wait_for 10 \
  bash -c "cmp -s '$A/Person/carol/.history' '$B/Person/carol/.history'"
echo 900 > "$B/Person/carol/salary"
check_file "B wrote carol's 900" "$B/Person/carol/salary" $'900\n'
check_ok "A reads chief's 900" wait_for 10 file_is "$A/Person/carol/salary" $'900\n'

# A list written line by line (printf) commits once, at close: one list
# update and one re-sealed keyset, never a moment without chief.
mkdir "$A/Person/deputy"
DEPUTY=$(cat "$A/Person/deputy/.owner")
lines=$(wc -l < "$A/Person/bob/.history")
printf 'Person/chief\nPerson/deputy\n' > "$A/Person/bob/.authorized"
check_eq "two readers listed (in key order)" "$(sort "$A/Person/bob/.authorized")" \
  "Person/chief $CHIEF"$'\n'"Person/deputy $DEPUTY"
check_eq "one list update and one keyset" "$(wc -l < "$A/Person/bob/.history")" $((lines + 2))
check_ok "B still reads salary" file_is "$B/Person/bob/salary" $'1500\n'

# C is down during the revocation; it catches up later.
stop_node c

# Revoke with sed -i: the data key rotates, B cannot read what comes next.
sed -i '/chief/d' "$A/Person/bob/.authorized"
check_file "A's list holds deputy only" "$A/Person/bob/.authorized" "Person/deputy $DEPUTY"$'\n'
echo 1600 > "$A/Person/bob/salary"
check_file "A reads 1600" "$A/Person/bob/salary" $'1600\n'
check_ok "B has the revocation" wait_for 10 file_is "$B/Person/bob/.authorized" \
  "Person/deputy $DEPUTY"$'\n'
check_ok "B gets the 1600 update" wait_for 10 \
  bash -c "[ \"\$(stat -c %s '$B/Person/bob/salary')\" = 5 ] && ! cat '$B/Person/bob/salary'"
check_fails "B cannot read the value written after revocation" "Permission denied" \
  cat "$B/Person/bob/salary"
check_fails "B's write after revocation" "Permission denied" \
  bash -c "echo 1700 > '$B/Person/bob/salary'"

start_node c -o peer=wss://127.0.0.1:$P
check_ok "C catches up with the revocation" wait_for 10 file_is "$C/Person/bob/.authorized" \
  "Person/deputy $DEPUTY"$'\n'
check_ok "C catches up with the 1600 update" wait_for 10 \
  bash -c "cmp -s '$A/Person/bob/.history' '$C/Person/bob/.history'"

# Appends to an encrypted field: sealed chunks, one clear value where readable.
printf 'salary\nnotes\n' > "$A/Person/.encrypted"
echo first >> "$A/Person/bob/notes"
echo second >> "$A/Person/bob/notes"
check_file "A reads the appended notes" "$A/Person/bob/notes" $'first\nsecond\n'
check_ok "C has both appends" wait_for 10 \
  bash -c "[ \"\$(stat -c %s '$C/Person/bob/notes')\" = 13 ]"
check_fails "C cannot read notes" "Permission denied" cat "$C/Person/bob/notes"

# Secrets that C's store must not hold in clear; a plain value it must.
echo CLEAR-MARKER-secret-7f3a > "$A/Person/bob/salary"
echo PLAIN-MARKER-visible-9c1e > "$A/Person/bob/motto"
check_ok "C has the motto" wait_for 10 file_is "$C/Person/bob/motto" $'PLAIN-MARKER-visible-9c1e\n'
check_ok "C has the last salary" wait_for 10 \
  bash -c "[ \"\$(stat -c %s '$C/Person/bob/salary')\" = 25 ]"

# C's listener ran for every update and never saw a salary in clear.
check_ok "C's listener saw salary updates" grep -q '^salary sealed=1 new= env=unset$' "$T/c-seen"
check_ok "C's listener saw the plain name" grep -q '^name sealed=0 new=Bob env=Bob' "$T/c-seen"
check_ok "C's listener never saw a salary" \
  bash -c "! grep -E '1234|1500|1600|CLEAR-MARKER' '$T/c-seen'"

# A listener's reason is logged, but never an encrypted value it repeats.
cat > "$A/.actions/on_update.50-cap" <<'EOF'
#!/bin/sh
v=$(cat)
if [ "$DINEMIC_FIELD" = salary ] && [ "$v" = 99999 ]; then
  echo "salary $v over the cap" >&2
  exit 1
fi
EOF
chmod +x "$A/.actions/on_update.50-cap"
check_fails "A's listener rejects 99999" "Operation not permitted" \
  bash -c "echo 99999 > '$A/Person/bob/salary'"
check_ok "the reason is logged" grep -q "salary \.\.\. over the cap" "$A/.node/log"
check_ok "without the value" bash -c "! grep -q 99999 '$A/.node/log'"
rm "$A/.actions/on_update.50-cap"

# Whatever a rejecting listener repeats of an encrypted value, of any length
# and bytes (1 byte, 600 bytes and 64 KiB, with CR, TAB and ESC), reaches
# neither .node/log nor the daemon's stderr.
cat > "$A/.actions/on_update.50-echo" <<'EOF'
#!/bin/sh
[ "$DINEMIC_FIELD" = salary ] || exit 0
printf 'echoed: ' >&2
cat >&2
exit 1
EOF
chmod +x "$A/.actions/on_update.50-echo"
# mkval N: N bytes of markers S3cr3t<i>, each followed by CR, TAB and ESC
mkval() {
  awk -v n="$1" 'BEGIN { while (length(s) < n) s = s sprintf("S3cr3t%d\r\t\033", i++)
                         printf "%s", substr(s, 1, n) }'
}
check_fails "a 1-byte value is rejected" "Operation not permitted" \
  bash -c "printf Z > '$A/Person/bob/salary'"
for size in 600 65536; do
  mkval $size > "$T/secret$size"
  check_ok "the $size-byte value has CR, TAB and ESC" \
    test "$(tr -cd '\r\t\033' < "$T/secret$size" | wc -c)" -gt 100
  check_fails "a $size-byte value is rejected" "Operation not permitted" \
    cp "$T/secret$size" "$A/Person/bob/salary"
done
rm "$A/.actions/on_update.50-echo"
check_eq "the three reasons are logged, each value shown as dots (. for 1 byte)" \
  "$(grep -ac 'echoed: \.\{1,3\}$' "$A/.node/log")" 3
for f in "$A/.node/log" "$T/a.log"; do
  check_ok "no part of a value in $(basename "$f")" bash -c "! grep -qa S3cr3t '$f'"
  check_ok "nor the 1-byte one in $(basename "$f")" bash -c "! grep -qa 'echoed: Z' '$f'"
done

# Every node holds the same history of bob.
for n in b c; do
  check_ok "$n has bob's whole history" wait_for 10 \
    bash -c "cmp -s '$A/Person/bob/.history' '$T/$n/Person/bob/.history'"
done

stop_node c
check_ok "C's store holds the plain value (grep works on it)" \
  grep -rqa --exclude='LOG*' -- 'PLAIN-MARKER-visible-9c1e$' "$T/c.state"
check_ok "C's store holds no clear marker" bash -c "! grep -rqa CLEAR-MARKER-secret '$T/c.state'"
# Short values: LevelDB's own text log (LOG) holds numbers of its own, and
# four bytes turn up by chance among the store's random bytes (keys,
# nonces, ciphertext); a value as written ends with its newline.
for v in 1234 1500 1600 second; do
  check_ok "C's store holds no clear '$v'" \
    bash -c "! grep -rqa --exclude='LOG*' -- '$v\$' '$T/c.state'"
done
stop_node a
check_ok "A's store holds no clear salary either" \
  bash -c "! grep -rqa CLEAR-MARKER-secret '$T/a.state'"
finish
