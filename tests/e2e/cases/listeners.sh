# SPDX-License-Identifier: MIT
# listeners.sh - .actions/ scripts accept or reject every change (issue example,
# every hook a local change fires, errnos, order, environment, timeout, a
# listener reading the mount, concurrent writers, the audit trail, the
# process group ended with the listener).
. "$(dirname "$0")/../lib.sh"

start_node a -o action_timeout=2
M=$T/a
A=$M/.actions
cd "$M" || exit 1
mkdir -p Person/bob

# .actions is a real directory: mkdir, cp, chmod, ls -l, sed -i, vim, rm
check_ok "mkdir in .actions" mkdir "$A/Person"
cat > "$T/salary.sh" <<'SH'
#!/bin/sh
[ "$DINEMIC_FIELD" = salary ] || exit 0
[ "$(cat)" -le 100000 ] || { echo "salary over budget" >&2; exit 1; }
SH
check_ok "cp into .actions" cp "$T/salary.sh" "$A/Person/on_update.10-salary"
check_ok "chmod +x" chmod +x "$A/Person/on_update.10-salary"
check_eq "ls -l shows x" "$(stat -c %A "$A/Person/on_update.10-salary")" "-rwxr-xr-x"
check_eq ".actions not listed at the root" "$(ls -a "$M" | grep -c actions)" 0
check_eq "kept in the state dir" "$(cat "$T/a.state/actions/Person/on_update.10-salary")" \
  "$(cat "$T/salary.sh")"

# the issue's example
check_ok "accepted" bash -c "echo 5000 > Person/bob/salary"
check_fails "rejected" "Operation not permitted" bash -c "echo 999999 > Person/bob/salary"
check_file "value unchanged" Person/bob/salary $'5000\n'
check_ok "log names it" grep -q \
  "rejected on_update Person/bob/salary by on_update.10-salary: salary over budget" .node/log
check_ok "sed -i in .actions" sed -i 's/100000/200000/' "$A/Person/on_update.10-salary"
check_ok "edited listener takes effect" bash -c "echo 150000 > Person/bob/salary"
check_ok "vim in .actions" vim -es -u NONE -c '%s/200000/100000/' -c wq "$A/Person/on_update.10-salary"
check_fails "vim edit takes effect" "Operation not permitted" bash -c "echo 150001 > Person/bob/salary"
check_ok "rm listener" rm "$A/Person/on_update.10-salary"
check_ok "removed listener is gone" bash -c "echo 999999 > Person/bob/salary"

# every hook a local change fires, in order
for h in on_create on_created on_owned_created on_update on_authorized_update \
  on_unauthorized_update on_owned_update on_updated on_authorized_updated \
  on_unauthorized_updated on_owned_updated on_delete on_authorized_delete \
  on_unauthorized_delete on_owned_delete on_deleted on_authorized_deleted \
  on_unauthorized_deleted on_owned_deleted on_remove on_authorized_remove \
  on_unauthorized_remove on_owned_remove; do
  printf '#!/bin/sh\necho "$DINEMIC_HOOK $DINEMIC_OBJECT ${DINEMIC_FIELD:--} $DINEMIC_AUTHORIZED$DINEMIC_OWNED $DINEMIC_ORIGIN" >> %s\n' \
    "$T/hooks" > "$A/$h.rec"
  chmod +x "$A/$h.rec"
done
echo README > "$A/README"
mkdir Person/alice
echo 1 > Person/alice/f
rm Person/alice/f
rmdir Person/alice
# after-listeners run behind the writer: wait for all 18 lines
for i in $(seq 1 100); do [ "$(wc -l < "$T/hooks")" -ge 18 ] && break; sleep 0.1; done
# Before-listeners run in the writer, after-listeners on their own queue:
# each sequence keeps its order; the two may interleave.
after='_(created|updated|deleted) '
check_eq "before-hooks in order" "$(grep -vE "$after" "$T/hooks")" "on_create alice - 11 local
on_update alice f 11 local
on_authorized_update alice f 11 local
on_owned_update alice f 11 local
on_delete alice f 11 local
on_authorized_delete alice f 11 local
on_owned_delete alice f 11 local
on_remove alice - 11 local
on_authorized_remove alice - 11 local
on_owned_remove alice - 11 local"
check_eq "after-hooks in order" "$(grep -E "$after" "$T/hooks")" "on_created alice - 11 local
on_owned_created alice - 11 local
on_updated alice f 11 local
on_authorized_updated alice f 11 local
on_owned_updated alice f 11 local
on_deleted alice f 11 local
on_authorized_deleted alice f 11 local
on_owned_deleted alice f 11 local"
rm "$A"/*.rec

# a rejection gives EPERM to every kind of operation and changes nothing
printf '#!/bin/sh\necho "no $DINEMIC_HOOK" >&2\nexit 1\n' > "$T/no"
chmod +x "$T/no"
cp "$T/no" "$A/on_create"
check_fails "mkdir rejected" "Operation not permitted" mkdir Person/carol
check_fails "no object" "No such file" ls Person/carol
rm "$A/on_create"
mkdir Person/carol && echo keep > Person/carol/f
cp "$T/no" "$A/on_delete"
check_fails "rm rejected" "Operation not permitted" rm Person/carol/f
check_file "field kept" Person/carol/f $'keep\n'
rm "$A/on_delete"
cp "$T/no" "$A/on_remove"
rm Person/carol/f
check_fails "rmdir rejected" "Operation not permitted" rmdir Person/carol
check_ok "object kept" test -d Person/carol
rm "$A/on_remove"
cp "$T/no" "$A/on_owned_update"
check_fails "append rejected" "Operation not permitted" bash -c "echo x >> Person/bob/salary"
printf 'over\n' > Person/bob/.tmp
check_fails "rename rejected" "Operation not permitted" mv Person/bob/.tmp Person/bob/salary
check_file "value kept" Person/bob/salary $'999999\n'
rm -f "$A/on_owned_update" Person/bob/.tmp

# order: common listeners by name, then the model's; environment and stdin
for n in 20-b 10-a; do
  printf '#!/bin/sh\necho "%s $DINEMIC_OLD>$DINEMIC_NEW $DINEMIC_MOUNT $(cat)" >> %s\n' "$n" \
    "$T/order" > "$A/on_update.$n"
done
printf '#!/bin/sh\necho "model" >> %s\n' "$T/order" > "$A/Person/on_update.00-first"
chmod +x "$A"/on_update.* "$A"/Person/on_update.*
printf 'v1' > Person/bob/e
printf 'v2' > Person/bob/e
check_eq "order and environment" "$(cat "$T/order")" "10-a >v1 $M v1
20-b >v1 $M v1
model
10-a v1>v2 $M v2
20-b v1>v2 $M v2
model"
rm "$A"/on_update.* "$A"/Person/on_update.*

# fail closed: not executable, interpreter missing
printf '#!/bin/sh\nexit 0\n' > "$A/on_update"
check_fails "not executable rejects" "Operation not permitted" bash -c "echo 1 > Person/bob/n"
printf '#!/no/such/shell\nexit 0\n' > "$A/on_update"
chmod +x "$A/on_update"
check_fails "missing interpreter rejects" "Operation not permitted" bash -c "echo 1 > Person/bob/n"
check_ok "both logged" grep -q "interpreter is missing" .node/log
rm "$A/on_update"

# timeout (-o action_timeout=2)
printf '#!/bin/sh\nsleep 30\n' > "$A/on_update"
chmod +x "$A/on_update"
start=$(date +%s)
check_fails "hung listener rejects" "Operation not permitted" bash -c "echo 1 > Person/bob/n"
check_ok "within the timeout" test $(($(date +%s) - start)) -lt 6
check_ok "timeout logged" grep -q "timed out after 2000 ms" .node/log
rm "$A/on_update"

# a listener reads the mount (it sees the old value), with 8 concurrent writers
cat > "$A/on_update" <<SH
#!/bin/sh
sleep 0.2
cat "\$DINEMIC_MOUNT/\$DINEMIC_MODEL/\$DINEMIC_OBJECT/\$DINEMIC_FIELD" > /dev/null 2>&1
ls "\$DINEMIC_MOUNT/\$DINEMIC_MODEL/\$DINEMIC_OBJECT" > /dev/null
[ "\$DINEMIC_FIELD" != peek ] || cat "\$DINEMIC_MOUNT/Person/bob/peek" > "$T/peek"
SH
chmod +x "$A/on_update"
echo old > Person/bob/peek
echo new > Person/bob/peek
check_file "listener saw the old value" "$T/peek" $'old\n'
pids=()
for w in 1 2 3 4 5 6 7 8; do
  (for i in 1 2 3; do echo "$w.$i" > "Person/bob/c$w" || echo "fail $w $i"; done) > "$T/c$w" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
check_eq "concurrent writers all accepted" "$(cat "$T"/c?)" ""
for w in 1 2 3 4 5 6 7 8; do check_file "c$w" "Person/bob/c$w" "$w.3
"; done
rm "$A/on_update"

# the audit trail of an after-listener matches exactly the accepted writes
printf '#!/bin/sh\necho "$DINEMIC_FIELD=$(cat)" >> %s\n' "$T/audit" > "$A/on_updated.audit"
chmod +x "$A/on_updated.audit"
cat > "$A/on_update.limit" <<'SH'
#!/bin/sh
[ "$(cat)" -lt 5 ] || { echo too big >&2; exit 1; }
SH
chmod +x "$A/on_update.limit"
for i in 1 7 2 9 3 4 5; do echo "$i" > Person/bob/a 2>/dev/null; done
for i in $(seq 1 50); do [ "$(wc -l < "$T/audit" 2>/dev/null)" = 4 ] && break; sleep 0.1; done
sleep 0.3
check_eq "audit trail" "$(tr '\n' ' ' < "$T/audit")" "a=1 a=2 a=3 a=4 "
rm "$A/on_updated.audit" "$A/on_update.limit"

# the examples in contrib/actions work as documented
C=$(cd "$CASES/../../../contrib/actions" && pwd)
cp "$C/on_update.10-range" "$C/on_update.00-strict-owner" "$A/Person/"
sed "s|^AUDIT_FILE=.*|AUDIT_FILE=$T/contrib-audit|" "$C/on_updated.50-audit" > "$A/on_updated.50-audit"
chmod +x "$A/on_updated.50-audit"
check_ok "range accepts" bash -c "echo 42 > Person/bob/salary"
check_fails "range rejects" "Operation not permitted" bash -c "echo 100001 > Person/bob/salary"
check_fails "range rejects text" "Operation not permitted" bash -c "echo lots > Person/bob/salary"
check_ok "range reason logged" grep -q "salary must be a whole number, not 'lots'" .node/log
for i in $(seq 1 50); do [ -s "$T/contrib-audit" ] && break; sleep 0.1; done
check_eq "audit line" "$(awk '{print $2, $3, $5, $6}' "$T/contrib-audit")" \
  "on_updated Person/bob/salary origin=local bytes=3"
rm -r "$A/Person" "$A/on_updated.50-audit"

# A listener's process group ends with it: what it leaves in the background
# (its output elsewhere, so the node does not wait for it) is killed.
MARK=$((3000 + RANDOM % 1000))
left() { pgrep -f "^sleep $MARK\$" || true; }
printf '#!/bin/sh\nsleep %s >/dev/null 2>&1 </dev/null &\nexit 0\n' "$MARK" > "$A/on_update"
chmod +x "$A/on_update"
check_ok "a listener that leaves a child behind accepts" bash -c "echo 1 > Person/bob/bg"
gone() { [ -z "$(left)" ]; }
check_ok "its background child is gone" wait_for 5 gone
for p in $(left); do kill "$p"; done
rm "$A/on_update"

cd "$T" || exit 1
stop_node a
finish
