# SPDX-License-Identifier: MIT
# models.sh - a model is owned by nobody, on three nodes, every node checked:
# two cut-off nodes that mkdir one model make one model; rmdir of a model
# with objects is ENOTEMPTY everywhere, and any node removes an empty one;
# THREATS finding 9 with real nodes (N1 mkdir N; rmdir N while N2, cut off,
# mkdir N N/o: all show N/o); finding 3 with the hostile peer (a back-dated
# MODEL_CREATE, an empty list and a MODEL_REMOVE from a made-up key change
# nothing: .encrypted keeps salary, the next salary is sealed, bob stays).
. "$(dirname "$0")/../lib.sh"
need_hostile

P=$(port_base 3)
make_netkey
declare -A OPTS=(
  [a]="listen=127.0.0.1:$P,network_key=$NETKEY"
  [b]="listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY"
  [c]="listen=127.0.0.1:$((P + 2)),peer=wss://127.0.0.1:$P,peer=wss://127.0.0.1:$((P + 1)),network_key=$NETKEY"
)
NODES_ALL=(a b c)
for n in "${NODES_ALL[@]}"; do start_node $n -o "${OPTS[$n]}"; done
A=$T/a B=$T/b C=$T/c

all_linked() { links_up a 2 && links_up b 2 && links_up c 2; }
check_ok "three nodes linked" wait_for 15 all_linked

# cut NODE: restarted with no link at all; join NODE: restarted with its links
cut() { stop_node "$1"; start_node "$1" -o "network_key=$NETKEY"; }
join() { stop_node "$1"; start_node "$1" -o "${OPTS[$1]}"; }

# on_all WHAT CMD...: CMD (with @ for each node's mount) holds on every node
on_all() {
  local what=$1 n
  shift
  for n in "${NODES_ALL[@]}"; do
    check_ok "$what on $n" wait_for 15 "${@//@/$T/$n}"
  done
}

# models_are NODE WANT: the node's models, as ls shows them, space-separated
models_are() { [ "$(ls "$T/$1" | tr '\n' ' ')" == "$2" ]; }
# stored_at_least NODE N: the node's log holds N updates or more
stored_at_least() { [ "$(stat_of "$1" updates_stored)" -ge "$2" ]; }
# size_is FILE N
size_is() { [ "$(stat -c %s "$1" 2>/dev/null)" == "$2" ]; }

# ---- two cut-off nodes create one model
cut b
cut c
mkdir "$B/Shared" "$B/Shared/fromb"
mkdir "$C/Shared" "$C/Shared/fromc"
echo b > "$B/Shared/fromb/who"
echo c > "$C/Shared/fromc/who"
join b
join c
check_ok "linked again" wait_for 15 all_linked
for n in a b c; do
  check_ok "one model Shared on $n" wait_for 15 models_are $n "Shared "
  check_ok "both objects in it on $n" wait_for 15 \
    bash -c "[ \"\$(ls '$T/$n/Shared' | tr '\n' ' ')\" == 'fromb fromc ' ]"
  check_ok "$n: B's value" wait_for 10 file_is "$T/$n/Shared/fromb/who" $'b\n'
  check_ok "$n: C's value" wait_for 10 file_is "$T/$n/Shared/fromc/who" $'c\n'
done
check_same_trees "Shared is the same everywhere" "$A/Shared" "$B/Shared" "$C/Shared"

# ---- rmdir: only an empty model, and by any node
for n in a b c; do
  check_fails "rmdir of a model with objects on $n" "Directory not empty" rmdir "$T/$n/Shared"
done
mkdir "$A/Tmp"
on_all "Tmp arrives" test -d @/Tmp
check_ok "C removes the model A made" rmdir "$C/Tmp"
on_all "Tmp is gone" bash -c "! test -e @/Tmp"
check_ok "and A makes it again" mkdir "$A/Tmp"
on_all "Tmp is back" test -d @/Tmp
for n in a b c; do check_ok "models on $n" models_are $n "Shared Tmp "; done

# ---- finding 9: N1 mkdir N; rmdir N while N2, cut off, mkdir N N/o.
# N: C's create comes first, A's remove last: N shows for o alone.
# N2: A's create and remove first, C's create last.
cut c
mkdir "$C/N" "$C/N/o" && echo v > "$C/N/o/f"
sleep 0.05
mkdir "$A/N" && rmdir "$A/N" || fail "mkdir N; rmdir N on A"
mkdir "$A/N2" && rmdir "$A/N2" || fail "mkdir N2; rmdir N2 on A"
check_ok "B shows neither N nor N2" wait_for 10 models_are b "Shared Tmp "
sleep 0.05
mkdir "$C/N2" "$C/N2/o" && echo w > "$C/N2/o/f"
join c
check_ok "linked again" wait_for 15 all_linked
for n in a b c; do
  check_ok "$n shows N/o" wait_for 15 file_is "$T/$n/N/o/f" $'v\n'
  check_ok "$n shows N2/o" wait_for 15 file_is "$T/$n/N2/o/f" $'w\n'
  check_ok "models on $n" models_are $n "N N2 Shared Tmp "
done
check_same_trees "N is the same everywhere" "$A/N" "$B/N" "$C/N"
check_same_trees "N2 is the same everywhere" "$A/N2" "$B/N2" "$C/N2"
check_fails "rmdir N on A: o is in it" "Directory not empty" rmdir "$A/N"
# Once o goes, N had only A's remove to stand on; N2 has C's later create.
rm -r "$C/N/o" "$C/N2/o"
on_all "N goes with its last object" bash -c "! test -e @/N"
on_all "N2 stays, empty" bash -c "test -d @/N2 && [ -z \"\$(ls @/N2)\" ]"

# ---- finding 3: a made-up key seizes nothing
mkdir -p "$A/Person/bob"
echo salary > "$A/Person/.encrypted"
echo SALARY-ONE > "$A/Person/bob/salary"
for n in b c; do
  check_ok "$n has salary" wait_for 10 test -e "$T/$n/Person/bob/salary"
  check_fails "$n cannot read it" "Permission denied" cat "$T/$n/Person/bob/salary"
done
"$MKUPDATE" newkey "$T/evil.key" >/dev/null || fail "newkey"
hc=$("$MKUPDATE" make --key "$T/evil.key" --op model-create --clock 1 --entity model \
  --model Person --out "$T/create.upd")
hm=$("$MKUPDATE" make --key "$T/evil.key" --op model-meta --clock now --entity model \
  --model Person --name encrypted --value "" --prev "$hc" --out "$T/meta.upd")
"$MKUPDATE" make --key "$T/evil.key" --op model-remove --clock now+1 --entity model \
  --model Person --prev "$hm" --out "$T/remove.upd" >/dev/null
stored=$(stat_of c updates_stored)
check_ok "send the three to A" hostile_send $P "$T/create.upd" "$T/meta.upd" "$T/remove.upd"
check_ok "they reach C" wait_for 10 stored_at_least c $((stored + 3))
check_ok "C applied them (none held)" test "$(stat_of c updates_held)" -eq 0
for n in a b c; do
  check_file ".encrypted keeps salary on $n" "$T/$n/Person/.encrypted" $'salary\n'
  check_eq ".encrypted is writable on $n" "$(stat -c %A "$T/$n/Person/.encrypted")" "-rw-r--r--"
  check_ok "Person still shows bob on $n" test -d "$T/$n/Person/bob"
done
echo SALARY-TWO > "$A/Person/bob/salary"
check_file "A reads the new salary" "$A/Person/bob/salary" $'SALARY-TWO\n'
for n in b c; do
  check_ok "$n has the new salary" wait_for 10 size_is "$T/$n/Person/bob/salary" 11
  check_fails "$n cannot read the new salary" "Permission denied" cat "$T/$n/Person/bob/salary"
  check_ok "$n's store holds no clear salary" \
    bash -c "! grep -rqa -e SALARY-TWO -e SALARY-ONE '$T/$n.state'"
done
check_fails "rmdir Person on B: bob is in it" "Directory not empty" rmdir "$B/Person"

for n in c b a; do stop_node $n; done
finish
