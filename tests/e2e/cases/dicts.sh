# SPDX-License-Identifier: MIT
# dicts.sh - listeners judge dict operations as the deletes of their keys
# (THREATS finding 13), on three nodes: B and C peer A, whose on_delete
# rejects every delete.
# - B runs rm -r of a dict of its own: on A the dict and its keys stay and
#   the rejections are logged; on B and C the dict is gone.
# - rm -r of a dict of A's own, on A, fails with "Operation not permitted"
#   and leaves the dict on every node.
# - A dict delete that buries a live key, and a field set over a dict with
#   keys (signed with the owner's key, as a node on another fork would send
#   them): held on A, applied on B and C, whose after-listeners are told of
#   each key with its old value.
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 1)
make_netkey
start_node a -o listen=127.0.0.1:$P,network_key=$NETKEY
start_node b -o peer=wss://127.0.0.1:$P,network_key=$NETKEY
start_node c -o peer=wss://127.0.0.1:$P,network_key=$NETKEY
A=$T/a B=$T/b C=$T/c
check_ok "A has two links up" wait_for 10 links_up a 2

gone() { [ ! -e "$1" ]; }
# log_count NODE TEXT: lines of the node's log (its stderr: every line, never cut) that hold TEXT
log_count() { grep -cF -- "$2" "$T/$1.log"; }

# B's object, with a dict of two keys.
mkdir -p "$B/Person/o/d"
printf v > "$B/Person/o/d/k"
printf w > "$B/Person/o/d/j"
for n in a c; do
  check_ok "$n has B's dict" wait_for 10 file_is "$T/$n/Person/o/d/k" v
  check_ok "$n has its other key" wait_for 10 file_is "$T/$n/Person/o/d/j" w
done

# A rejects every delete; B and C record what their after-listeners are told.
cat > "$A/.actions/on_delete" <<'SH'
#!/bin/sh
echo "no deletes" >&2
exit 1
SH
chmod +x "$A/.actions/on_delete"
for n in b c; do
  printf '#!/bin/sh\necho "$DINEMIC_HOOK $DINEMIC_ORIGIN $DINEMIC_OBJECT/$DINEMIC_FIELD ${DINEMIC_OLD-none}" >> %s\n' \
    "$T/$n.told" > "$T/$n/.actions/on_deleted"
  chmod +x "$T/$n/.actions/on_deleted"
done

# 1. The recipe: rm -r on B. A holds both key deletes and the dict delete,
# which would delete the key it judges first (j) again.
held0=$(stat_of a updates_held)
check_ok "rm -r of the dict on B" rm -r "$B/Person/o/d"
check_ok "B: the dict is gone" gone "$B/Person/o/d"
check_ok "C: the dict goes" wait_for 10 gone "$C/Person/o/d"
# A later update of the object: once A shows it, A has judged the rm -r.
echo t1 > "$B/Person/o/title"
check_ok "A takes B's next update" wait_for 10 file_is "$A/Person/o/title" $'t1\n'
check_ok "C takes it too" wait_for 10 file_is "$C/Person/o/title" $'t1\n'
check_ok "A keeps the dict" test -d "$A/Person/o/d"
check_file "A keeps key k" "$A/Person/o/d/k" v
check_file "A keeps key j" "$A/Person/o/d/j" w
check_eq "A lists both keys" "$(ls "$A/Person/o/d" | tr '\n' ' ')" "j k "
check_eq "A logs the rejections of j (its delete, then the dict's)" \
  "$(log_count a 'rejected on_delete Person/o/d/j by on_delete: no deletes')" 2
check_eq "A logs the rejection of k (its delete)" \
  "$(log_count a 'rejected on_delete Person/o/d/k by on_delete: no deletes')" 1
check_eq "A holds the three updates" "$(stat_of a updates_held)" $((held0 + 3))
check_eq "B lists no dict" "$(ls "$B/Person/o" | tr '\n' ' ')" "title "
check_eq "C lists no dict" "$(ls "$C/Person/o" | tr '\n' ' ')" "title "
check_ok "C was told of both keys' deletes" wait_for 5 grep -qx "on_deleted remote o/d/k v" "$T/c.told"
check_ok "C was told of j" grep -qx "on_deleted remote o/d/j w" "$T/c.told"

# 2. rm -r on A of a dict of A's own: EPERM, nothing stored or sent.
mkdir -p "$A/Person/p/d" "$A/Person/p/e"
printf 1 > "$A/Person/p/d/k"
printf x1 > "$A/Person/p/e/x"
printf y2 > "$A/Person/p/e/y"
for n in b c; do
  check_ok "$n has A's dicts" wait_for 10 file_is "$T/$n/Person/p/e/y" y2
done
stored=$(stat_of a updates_stored)
check_fails "rm -r of a dict on A" "Operation not permitted" rm -r "$A/Person/p/d"
check_eq "A stored nothing for it" "$(stat_of a updates_stored)" "$stored"
echo t2 > "$A/Person/p/title"
for n in b c; do
  check_ok "$n takes A's next update" wait_for 10 file_is "$T/$n/Person/p/title" $'t2\n'
done
for n in a b c; do
  check_file "$n keeps A's dict and key" "$T/$n/Person/p/d/k" 1
done

# 3. A dict delete that buries a live key, made with A's key on a fork that
# never deleted the key, sent to A (which relays what it holds).
kp=$(cat "$A/Person/p/.owner")
mkd=$(awk '$5 == "dict-create" && $6 == "d" { print $2 }' "$A/Person/p/.history")
mke=$(awk '$5 == "dict-create" && $6 == "e" { print $2 }' "$A/Person/p/.history")
check_ok "A's history names both dicts" test -n "$mkd" -a -n "$mke"
"$MKUPDATE" make --key "$T/a.state/keys/$kp.key" --op dict-delete --clock now --entity self \
  --model Person --name d --prev "$mkd" --out "$T/rmdict.upd" >/dev/null
rej=$(log_count a 'rejected on_delete Person/p/d/k by on_delete: no deletes')
check_ok "send the dict delete to A" hostile_send $P "$T/rmdict.upd"
# log_count_is NODE TEXT N: the count, taken anew at each try of wait_for
log_count_is() { [ "$(log_count "$1" "$2")" -eq "$3" ]; }
check_ok "A logs the rejection of its key" wait_for 10 \
  log_count_is a 'rejected on_delete Person/p/d/k by on_delete: no deletes' $((rej + 1))
check_ok "B applies it" wait_for 10 gone "$B/Person/p/d"
check_ok "C applies it" wait_for 10 gone "$C/Person/p/d"
check_file "A keeps the key" "$A/Person/p/d/k" 1
for n in b c; do
  check_ok "$n's after-listener is told of the key, with its old value" \
    wait_for 5 grep -qx "on_deleted remote p/d/k 1" "$T/$n.told"
done

# 4. A field set over a dict with two keys: the same, one judgement per key.
"$MKUPDATE" make --key "$T/a.state/keys/$kp.key" --op set --clock now --entity self \
  --model Person --name e --value flat --prev "$mke" --out "$T/flat.upd" >/dev/null
check_ok "send the set over the dict to A" hostile_send $P "$T/flat.upd"
check_ok "B applies it" wait_for 10 file_is "$B/Person/p/e" flat
check_ok "C applies it" wait_for 10 file_is "$C/Person/p/e" flat
check_ok "A logs the rejection of the first key" wait_for 10 \
  grep -qF 'rejected on_delete Person/p/e/x by on_delete: no deletes' "$A/.node/log"
check_eq "and asks no more" "$(log_count a 'rejected on_delete Person/p/e/y')" 0
check_ok "A keeps the dict" test -d "$A/Person/p/e"
check_file "A keeps key x" "$A/Person/p/e/x" x1
check_file "A keeps key y" "$A/Person/p/e/y" y2
for n in b c; do
  check_ok "$n is told of y" wait_for 5 grep -qx "on_deleted remote p/e/y y2" "$T/$n.told"
  check_eq "$n is told of each key once, in name order" \
    "$(grep ' p/e/' "$T/$n.told" | tr '\n' ';')" \
    "on_deleted remote p/e/x x1;on_deleted remote p/e/y y2;"
done
check_same_trees "B and C end alike" "$B" "$C"

for n in c b a; do stop_node $n; done
finish
