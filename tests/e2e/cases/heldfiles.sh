# SPDX-License-Identifier: MIT
# heldfiles.sh - held updates as files (.node/held/), on three nodes: B and
# C link to A. B's listener rejects remote updates of secret, memo and
# salary; C's, of salary. The rejected ones are listed in .node/held/ where
# they are held, and only there, one file each, saying what the update is
# and why it is held (a value encrypted for B in clear on B, for its user
# only; none on C, which cannot read it). The listener is fixed for secret:
# a retry applies it on B only (value, .history and stats agree, the
# listeners judged it as remote, what depends on it shows); a retry of memo,
# still rejected, fails with EPERM and the reason is logged; rm drops memo:
# counts go down, it does not come back when B reconnects, and sent again
# by a peer it is judged again: rejected, not kept; accepted, applied. A
# retry of an update the policy holds fails with EPERM too.
. "$(dirname "$0")/../lib.sh"
need_hostile

# Another local user, where one can be made: B runs with allow_other after its restart.
U=
if [ "$(id -u)" -eq 0 ] && command -v useradd >/dev/null && command -v setpriv >/dev/null &&
  useradd --system --no-create-home --shell /usr/sbin/nologin "dfs$$" 2>/dev/null; then
  U=dfs$$
  trap 'userdel "$U" 2>/dev/null; cleanup' EXIT
  chmod 755 "$T"
fi
# as_other CMD...: CMD as the other user, with no supplementary groups
as_other() { setpriv --reuid="$(id -u "$U")" --regid="$(id -g "$U")" --clear-groups "$@"; }

P=$(port_base 3)
make_netkey
start_node a -o listen=127.0.0.1:$P,network_key=$NETKEY
start_node b -o listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY
start_node c -o peer=wss://127.0.0.1:$P,network_key=$NETKEY
A=$T/a B=$T/b C=$T/c
check_ok "A has B and C" wait_for 10 links_up a 2

# held_names NODE: the names in the node's .node/held, on one line
held_names() { ls "$T/$1/.node/held" | tr '\n' ' ' | sed 's/ $//'; }
# entry NODE NAME KEY: the value of one line of an entry
entry() { awk -v k="$3" '$1 == k { sub(/^[^ ]+ /, ""); print }' "$T/$1/.node/held/$2"; }
# held_name_of NODE FIELD: the name of the node's held update of Doc/x/FIELD
held_name_of() {
  local f
  for f in "$T/$1/.node/held"/*; do
    [ -e "$f" ] || continue
    if [ "$(entry "$1" "${f##*/}" field)" == "$2" ]; then echo "${f##*/}"; return; fi
  done
}
# rejections: how many times B's listener rejected memo; rejected_since N: more than N
rejections() { grep -c "rejected on_update Doc/x/memo" "$T/b.log"; }
rejected_since() { [ "$(rejections)" -gt "$1" ]; }
# history_line NODE HASH16: the line of Doc/x/.history of that update
history_line() { grep -E "^[^ ]+ $2" "$T/$1/Doc/x/.history"; }

# B's before-listener: rejects secret, memo and salary; every call is recorded.
cat > "$T/deny" <<EOF
#!/bin/sh
echo "\$DINEMIC_ORIGIN \$DINEMIC_FIELD \$(cat)" >> "$T/b.judged"
case "\$DINEMIC_FIELD" in
  secret|memo|salary) echo "\$DINEMIC_FIELD is not welcome here" >&2; exit 1 ;;
esac
EOF
chmod +x "$T/deny"
cp "$T/deny" "$B/.actions/on_update.10-deny"
printf '#!/bin/sh\necho "$DINEMIC_ORIGIN $DINEMIC_FIELD $(cat)" >> %s\n' "$T/b.told" \
  > "$B/.actions/on_updated.rec"
chmod +x "$B/.actions/on_updated.rec"
cat > "$C/.actions/on_update.10-deny" <<'EOF'
#!/bin/sh
[ "$DINEMIC_FIELD" != salary ] || { echo "no salaries" >&2; exit 1; }
EOF
chmod +x "$C/.actions/on_update.10-deny"

# chief's key lives on B; A lists salary as encrypted and authorizes chief.
mkdir "$B/Person" "$B/Person/chief"
check_ok "A has chief" wait_for 10 test -d "$A/Person/chief"
mkdir -p "$A/Doc/x"
echo salary > "$A/Doc/.encrypted"
echo Person/chief > "$A/Doc/x/.authorized"
check_ok "B has the grant" wait_for 10 grep -q chief "$B/Doc/x/.authorized"
check_ok "C has the grant" wait_for 10 grep -q chief "$C/Doc/x/.authorized"

echo s1 > "$A/Doc/x/secret"
echo m1 > "$A/Doc/x/memo"
echo 1234 > "$A/Doc/x/salary"
echo t1 > "$A/Doc/x/title"
check_ok "B has title" wait_for 10 file_is "$B/Doc/x/title" $'t1\n'
check_ok "C has title" wait_for 10 file_is "$C/Doc/x/title" $'t1\n'
check_ok "B: secret not applied" test ! -e "$B/Doc/x/secret"

# ---- what is held is listed where it is held, and only there --------------
check_eq "B holds three" "$(ls "$B/.node/held" | wc -l)" 3
check_eq "C holds one" "$(ls "$C/.node/held" | wc -l)" 1
check_eq "A holds none" "$(held_names a)" ""
check_eq "B: held_updates" "$(stat_of b held_updates)" 3
check_eq "C: held_updates" "$(stat_of c held_updates)" 1
check_ok "B: ls .node lists held" bash -c "ls '$B/.node' | grep -qx held"
check_eq ".node/held is a directory one can rm in" "$(stat -c %A "$B/.node/held")" "drwxr-xr-x"
HS=$(held_name_of b secret) HM=$(held_name_of b memo) HP=$(held_name_of b salary)
check_ok "B: each field has its entry" test -n "$HS" -a -n "$HM" -a -n "$HP"
XKEY=$(awk '{ print $2 }' "$A/Doc/x/.id")
AHASH=$(history_line a "$HS" | awk '{ print $2 }')
check_eq "the name is the first 16 hex digits of the hash" "${AHASH:0:16}" "$HS"
check_file "B: the entry of secret" "$B/.node/held/$HS" "hash $AHASH
model Doc
object Doc/x $XKEY
field secret
op set
signer Doc/x $XKEY
clock $(history_line a "$HS" | awk '{ print $1 }')
held_by listener on_update.10-deny
reason secret is not welcome here
encrypted no
value s1\\x0a
"
check_eq "B: .history says the same" "$(history_line b "$HS" | cut -d' ' -f7-)" \
  "held listener: on_update.10-deny: secret is not welcome here"
check_eq "B: secret's entry is rw for its user, r for others" \
  "$(stat -c %A "$B/.node/held/$HS")" "-rw-r--r--"
# salary: B reads it (chief's key), in clear for this user only; C cannot.
check_eq "B: salary in clear" "$(entry b "$HP" value)" '1234\x0a'
check_eq "B: salary's entry says encrypted" "$(entry b "$HP" encrypted)" yes
check_eq "B: salary's entry is its user's only" "$(stat -c %A "$B/.node/held/$HP")" "-rw-------"
HC=$(ls "$C/.node/held")
check_eq "C: the same update" "$HC" "$HP"
check_eq "C: no value it cannot read" "$(entry c "$HC" value)" ""
check_eq "C: says encrypted" "$(entry c "$HC" encrypted)" yes
check_eq "C: held by its own listener" "$(entry c "$HC" held_by)" "listener on_update.10-deny"
check_eq "C: its reason" "$(entry c "$HC" reason)" "no salaries"
check_fails "C: no such entry" "No such file" cat "$C/.node/held/$HS"
check_fails "B: a name that is no hash" "No such file" cat "$B/.node/held/0123"
TITLE=$(tail -1 "$B/Doc/x/.history" | awk '{ print substr($2, 1, 16) }')
check_fails "B: an applied update has no entry" "No such file" cat "$B/.node/held/$TITLE"

# ---- the listener is fixed for secret: a retry applies it on B -------------
sed -i 's/secret|memo|salary/memo/' "$B/.actions/on_update.10-deny"
applied0=$(stat_of b updates_applied_remote)
stored_a=$(stat_of a updates_stored) stored_c=$(stat_of c updates_stored)
: > "$T/b.judged"
check_ok "retry of secret" bash -c "echo retry > '$B/.node/held/$HS'"
check_file "B: secret shows" "$B/Doc/x/secret" $'s1\n'
check_eq "B: gone from .node/held" "$(held_names b | grep -c "$HS")" 0
check_eq "B: held_updates" "$(stat_of b held_updates)" 2
check_eq "B: updates_applied_remote" "$(stat_of b updates_applied_remote)" $((applied0 + 1))
check_eq "B: the listener judged it as remote, with its value" "$(cat "$T/b.judged")" \
  "remote secret s1"
check_ok "B: the after-listener was told" wait_for 5 grep -qx "remote secret s1" "$T/b.told"
check_eq "B: .history lists it once, applied, as A does" "$(history_line b "$HS")" \
  "$(history_line a "$HS")"
check_eq "B: no line is unverified" "$(grep -c UNVERIFIED "$B/Doc/x/.history")" 0
check_ok "B: the log says so" wait_for 5 grep -q "held update $HS of Doc/x/secret: applied on retry" \
  "$T/b.log"
check_eq "C: still holds salary alone" "$(held_names c)" "$HP"
check_eq "A: nothing new stored" "$(stat_of a updates_stored)" "$stored_a"
check_eq "C: nothing new stored" "$(stat_of c updates_stored)" "$stored_c"
check_fails "retried again: gone" "No such file" bash -c "echo retry > '$B/.node/held/$HS'"

# ---- memo is still rejected: EPERM, logged, still held ------------------------
check_fails "retry of memo" "Operation not permitted" bash -c "echo retry > '$B/.node/held/$HM'"
check_ok "B: the log says why" grep -q \
  "held update $HM of Doc/x/memo: still held on retry: listener: on_update.10-deny: memo is not welcome here" \
  "$B/.node/log"
check_eq "B: memo still listed" "$(held_names b | grep -c "$HM")" 1
check_eq "B: held_updates unchanged" "$(stat_of b held_updates)" 2
check_fails "B: anything but retry" "Invalid argument" bash -c "echo apply > '$B/.node/held/$HM'"
check_fails "B: the files of .node are not removed" "Operation not permitted" rm "$B/.node/stats"

# ---- rm drops memo here --------------------------------------------------------
bytes0=$(stat_of b held_bytes)
check_ok "rm memo" rm "$B/.node/held/$HM"
check_eq "B: memo gone" "$(held_names b | grep -c "$HM")" 0
check_eq "B: held_updates down" "$(stat_of b held_updates)" 1
check_ok "B: held_bytes down" test "$(stat_of b held_bytes)" -lt "$bytes0"
check_eq "B: held_dropped counts the quota's drops only" "$(stat_of b held_dropped)" 0
check_eq "B: .history no longer lists it" "$(history_line b "$HM" | wc -l)" 0
check_eq "B: title, chained on memo, still verifies" "$(grep -c UNVERIFIED "$B/Doc/x/.history")" 0
check_ok "B: the log says so" grep -q "held update $HM of Doc/x/memo: dropped here" "$T/b.log"
check_eq "A keeps memo" "$(cat "$A/Doc/x/memo")" m1
check_eq "C keeps memo" "$(cat "$C/Doc/x/memo")" m1

# B reconnects: A does not send it again (B's place in A's log is past it).
stop_node b
start_node b -o listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY${U:+,allow_other}
check_ok "B is back" wait_for 10 links_up a 2
echo t2 > "$A/Doc/x/title"
check_ok "B has the next title" wait_for 10 file_is "$B/Doc/x/title" $'t2\n'
check_eq "B: memo did not come back" "$(held_names b | grep -c "$HM")" 0
check_eq "B: held_updates" "$(stat_of b held_updates)" 1

# Sent again by a peer, memo is judged again: rejected, it is not kept.
mkdir "$T/alog"
check_ok "fetch A's log" hostile_fetch $P "$T/alog"
MEMO=
for f in "$T/alog"/*.upd; do
  [ "$(upd_hash "$f" | cut -c1-16)" == "$HM" ] && MEMO=$f
done
check_ok "memo is in A's log" test -n "$MEMO"
rejected0=$(rejections)
check_ok "send memo to B again" hostile_send $((P + 1)) "$MEMO"
check_ok "B judged it again" wait_for 10 rejected_since "$rejected0"
sleep 0.3
check_eq "B: memo not held again" "$(held_names b | grep -c "$HM")" 0
check_eq "B: held_updates" "$(stat_of b held_updates)" 1
# Accepted now: applied.
sed -i 's/  memo)/  none)/' "$B/.actions/on_update.10-deny"
check_ok "send memo to B once more" hostile_send $((P + 1)) "$MEMO"
check_ok "B: memo applied" wait_for 10 file_is "$B/Doc/x/memo" $'m1\n'
check_eq "B: held_updates" "$(stat_of b held_updates)" 1

# ---- held by the policy: a retry fails while its signer is not authorized -------
"$MKUPDATE" newkey "$T/intruder.key" > /dev/null
head=$(tail -1 "$A/Doc/x/.history" | cut -d' ' -f2)
"$MKUPDATE" make --key "$T/intruder.key" --op set --clock now --entity "$XKEY" --model Doc \
  --name title --value intruder --prev "$head" --out "$T/intruder.upd" > /dev/null
check_ok "send it to B" hostile_send $((P + 1)) "$T/intruder.upd"
HI=$(upd_hash "$T/intruder.upd" | cut -c1-16)
check_ok "B holds it" wait_for 10 test -e "$B/.node/held/$HI"
check_eq "B: held by the policy" "$(entry b "$HI" held_by)" unauthorized
check_eq "B: its reason" "$(entry b "$HI" reason)" "signer not in .authorized at its clock"
check_fails "retry of an unauthorized update" "Operation not permitted" \
  bash -c "echo retry > '$B/.node/held/$HI'"
check_file "B: title unchanged" "$B/Doc/x/title" $'t2\n'
check_ok "A holds it too (relayed)" wait_for 10 test -e "$A/.node/held/$HI"

# ---- with allow_other, another user reads what is plain, nothing it may not -------
if [ -n "$U" ]; then
  check_eq "another user reads a plain entry" \
    "$(as_other cat "$B/.node/held/$HI" 2>&1 | awk '$1 == "value"')" "value intruder"
  check_fails "another user cannot read a value B decrypted" "Permission denied" \
    as_other cat "$B/.node/held/$HP"
  check_fails "another user cannot retry" "Permission denied" \
    as_other sh -c "echo retry > '$B/.node/held/$HI'"
  check_fails "another user cannot rm" "Permission denied" as_other rm -f "$B/.node/held/$HI"
  check_eq "both still held" "$(stat_of b held_updates)" 2
else
  echo "(no other user: allow_other not checked)"
fi

for n in c b a; do stop_node $n; done
finish
