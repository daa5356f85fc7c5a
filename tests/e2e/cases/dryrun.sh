# SPDX-License-Identifier: MIT
# dryrun.sh - `dinemicfs try` asks the before-listeners about a change
# without making it: a set, append, delete, create and remove, accepted and
# rejected, give the right exit status, verdicts and reasons; the listeners
# see DINEMIC_DRYRUN=1 and otherwise the same environment and stdin as the
# real change; .history, .node/stats, .node/log and the peer are unchanged;
# the same timeout; rules refuse with the real change's errno; garbage, a
# path outside the mount and a value over max_value get clear errors and
# change nothing.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P,max_value=64K,action_timeout=1
start_node b -o peer=wss://127.0.0.1:$P
A=$T/a B=$T/b
check_ok "link up" wait_for 10 links_up b 1
try() { "$DINEMICFS" try "$@"; }

cd "$A" || exit 1
mkdir -p Person/bob Person/empty Person/locked
echo 4000 > Person/bob/salary
echo t1 > Person/bob/tags
echo gone > Person/bob/note
echo kept > Person/bob/keep
mkdir Person/bob/addr

# A recorder on every before-hook (common listeners run first): its hook,
# its DINEMIC_ variables (newlines in values shown as |) and its stdin in hex.
cat > "$T/rec" <<SH
#!/bin/sh
{ echo "== \$DINEMIC_HOOK"; env -0 | tr '\n\0' '|\n' | grep '^DINEMIC_' | LC_ALL=C sort
  printf 'stdin '; od -An -tx1 | tr -d ' \n'; echo; } >> "$T/seen"
SH
chmod +x "$T/rec"
for h in on_create on_update on_authorized_update on_owned_update on_delete \
  on_authorized_delete on_owned_delete on_remove on_authorized_remove on_owned_remove; do
  cp "$T/rec" ".actions/$h.00-rec"
done
mkdir .actions/Person
cat > .actions/Person/on_update.10-salary <<'SH'
#!/bin/sh
[ "$DINEMIC_FIELD" = salary ] || exit 0
[ "$(cat)" -le 100000 ] || { echo "salary over budget" >&2; exit 1; }
echo "salary fits" >&2
SH
cat > .actions/Person/on_update.20-tags <<'SH'
#!/bin/sh
[ "$DINEMIC_FIELD" = tags ] || exit 0
grep -q bad && { echo "no bad tags" >&2; exit 1; }
exit 0
SH
cat > .actions/Person/on_update.30-slow <<'SH'
#!/bin/sh
[ "$DINEMIC_FIELD" = slow ] && sleep 5
exit 0
SH
printf '#!/bin/sh\n[ "$DINEMIC_FIELD" != keep ] || { echo "keep stays" >&2; exit 1; }\n' \
  > .actions/Person/on_delete.10-keep
printf '#!/bin/sh\n[ "$DINEMIC_OBJECT" != admin ] || { echo "no admins" >&2; exit 1; }\n' \
  > .actions/Person/on_create.10-admin
printf '#!/bin/sh\n[ "$DINEMIC_OBJECT" != locked ] || { echo "locked stays" >&2; exit 1; }\n' \
  > .actions/Person/on_remove.10-locked
printf '#!/bin/sh\nexit 0\n' > .actions/Person/on_owned_update.50-after
chmod +x .actions/Person/*

check_ok "B has A's objects" wait_for 10 file_is "$B/Person/bob/keep" $'kept\n'
check_ok "B has stored all of A's log" "$DINEMICFS" wait "$A" --timeout 10

# What must not change: A's and B's histories, counters, log and trees.
snapshot() {
  local n o
  for n in a b; do
    for o in bob empty locked; do echo "-- $n $o"; cat "$T/$n/Person/$o/.history"; done
    echo "-- $n stats"
    grep -E '^(updates_|held_|corrupt_records|errors_logged|last_error)' "$T/$n/.node/stats"
    echo "-- $n log"; cat "$T/$n/.node/log"
    echo "-- $n tree"; tree_dump "$T/$n"
  done
}
before=$(snapshot)

# dry NAME WANT_STATUS TRY_ARGS...: a dry run; its output in $T/out.NAME,
# what the recorders saw in $T/dry.NAME
dry() {
  local name=$1 want=$2 rc
  shift 2
  : > "$T/seen"
  try "$@" > "$T/out.$name" 2>&1
  rc=$?
  check_eq "dry $name: exit status" "$rc" "$want"
  mv "$T/seen" "$T/dry.$name"
}
dry set_ok 0 Person/bob/salary 5000
dry set_no 1 "$A/Person/bob/salary" 999999
dry append_ok 0 --append Person/bob/tags good
dry append_no 1 --append Person/bob/tags bad
dry delete_ok 0 --rm Person/bob/note
dry delete_no 1 --rm Person/bob/keep
dry create_ok 0 --mkdir Person/carol
dry create_no 1 --mkdir Person/admin
dry remove_ok 0 --rmdir Person/empty
dry remove_no 1 --rmdir Person/locked
cd Person/bob && dry stdin_ok 0 -n salary < <(printf 7000) && cd "$A"

check_file "set accepted: every listener, in order" "$T/out.set_ok" \
"accept  on_update               on_update.00-rec
accept  on_update               Person/on_update.10-salary: salary fits
accept  on_update               Person/on_update.20-tags
accept  on_update               Person/on_update.30-slow
accept  on_authorized_update    on_authorized_update.00-rec
accept  on_owned_update         on_owned_update.00-rec
accept  on_owned_update         Person/on_owned_update.50-after
accepted
"
check_file "set rejected: which and why; the rest skipped" "$T/out.set_no" \
"accept  on_update               on_update.00-rec
reject  on_update               Person/on_update.10-salary: salary over budget
skip    on_update               Person/on_update.20-tags (not run: the change stops at a rejection)
skip    on_update               Person/on_update.30-slow (not run: the change stops at a rejection)
skip    on_authorized_update    on_authorized_update.00-rec (not run: the change stops at a rejection)
skip    on_owned_update         on_owned_update.00-rec (not run: the change stops at a rejection)
skip    on_owned_update         Person/on_owned_update.50-after (not run: the change stops at a rejection)
rejected by Person/on_update.10-salary: salary over budget
"
check_eq "append rejected" "$(tail -n 1 "$T/out.append_no")" \
  "rejected by Person/on_update.20-tags: no bad tags"
check_eq "append accepted" "$(tail -n 1 "$T/out.append_ok")" "accepted"
check_eq "delete rejected" "$(tail -n 1 "$T/out.delete_no")" \
  "rejected by Person/on_delete.10-keep: keep stays"
check_eq "delete accepted" "$(grep -c '^accept  on_.*delete' "$T/out.delete_ok")" 4
check_eq "create rejected" "$(tail -n 1 "$T/out.create_no")" \
  "rejected by Person/on_create.10-admin: no admins"
check_eq "create accepted" "$(cat "$T/out.create_ok")" \
"accept  on_create               on_create.00-rec
accept  on_create               Person/on_create.10-admin
accepted"
check_eq "remove rejected" "$(tail -n 1 "$T/out.remove_no")" \
  "rejected by Person/on_remove.10-locked: locked stays"
check_eq "remove accepted" "$(tail -n 1 "$T/out.remove_ok")" "accepted"
check_eq "value from stdin, -n, a path from a subdirectory" \
  "$(grep -c 'stdin 37303030$' "$T/dry.stdin_ok")" 3

# Every listener run saw DINEMIC_DRYRUN=1.
for f in "$T"/dry.*; do
  runs=$(grep -c '^== ' "$f")
  check_eq "${f##*/}: listeners ran" "$([ "$runs" -gt 0 ] && echo yes)" yes
  check_eq "${f##*/}: each saw DINEMIC_DRYRUN=1" "$(grep -c '^DINEMIC_DRYRUN=1$' "$f")" "$runs"
done

# Rules refuse with the errno the real change gets, before or after the listeners.
refused() { # WHAT STATUS WANT TRY_ARGS...
  local what=$1 want=$2 line=$3 out rc
  shift 3
  out=$(try "$@" 2>&1)
  rc=$?
  check_eq "$what: exit status" "$rc" "$want"
  check_eq "$what: says why" "$(tail -n 1 <<<"$out")" "$line"
}
refused "no such object" 1 "refused (ENOENT): no such object" Person/nobody/x 1
refused "no such model" 1 "refused (ENOENT): no such model" --mkdir Nobody/x
refused "object exists" 1 "refused (EEXIST): the object exists" --mkdir Person/bob
refused "rm of no field" 1 "refused (ENOENT): no such field" --rm Person/bob/nothing
refused "rmdir of a full object" 1 \
  "refused (ENOTEMPTY): the object has fields: rmdir fails (rm -r deletes each first, each judged as a delete)" \
  --rmdir Person/bob
refused "scratch file" 1 "refused (EINVAL): a scratch file: kept on this node only, never judged" \
  Person/bob/notes~ x
refused "generated file" 1 "refused (EINVAL): not a field" Person/bob/.history x
refused "a dict" 1 "refused (EISDIR): a dict: its keys are judged, one by one" \
  --rm Person/bob/addr
refused "value over max_value" 1 "refused (EFBIG): a value of 70000 bytes is over this node's max_value" \
  Person/bob/big < <(head -c 70000 /dev/zero)
refused "a field path for --mkdir" 2 \
  "dinemicfs: PATH must be an object, MODEL/OBJECT, in a mount (models and dicts are not judged by listeners): 'Person/bob/x' (see dinemicfs try --help)" \
  --mkdir Person/bob/x
out=$(try /etc/passwd x 2>&1)
check_eq "outside the mount: exit status" "$?" 2
check_eq "outside the mount: says so" "${out%% (*}" "dinemicfs: '/etc/passwd' is not in a dinemicfs mount"
refused "usage" 2 "dinemicfs: unknown option '--bogus' (see dinemicfs try --help)" --bogus x
# the same timeout as a real change
refused "listener timeout" 1 "rejected by Person/on_update.30-slow: timed out after 1000 ms" \
  Person/bob/slow x

# Garbage and odd requests written to .node/try itself: clear errors.
check_fails "garbage" "Invalid argument" bash -c "printf 'hello world\n' > .node/try"
check_fails "binary garbage" "Invalid argument" bash -c "printf '\x01\x02\x00zz' > .node/try"
check_fails "an unknown op" "Invalid argument" bash -c "printf 'format 0 Person/bob\n' > .node/try"
check_fails "a path outside the mount" "Invalid argument" \
  bash -c "printf 'set 1 ../../etc/passwd\nx' > .node/try"
check_fails "an absolute path" "Invalid argument" bash -c "printf 'set 1 /etc/passwd\nx' > .node/try"
check_fails "bytes after the value" "Invalid argument" \
  bash -c "printf 'set 1 Person/bob/salary\nxy' > .node/try"
check_fails "a value over max_value" "File too large" \
  bash -c "printf 'set 70000 Person/bob/salary\n' > .node/try"
check_fails "a header that never ends" "Invalid argument" \
  bash -c "{ printf 'set 1 '; head -c 5000 /dev/zero | tr '\0' a; } > .node/try"
check_fails ".node/try cannot be truncated" "Operation not permitted" truncate -s 0 .node/try
check_eq ".node/try reads empty" "$(cat .node/try | wc -c)" 0
if command -v python3 >/dev/null; then
  # The protocol itself: one request, the answer from offset 0 of the same open file.
  out=$(python3 - "$A/.node/try" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b"set 6 Person/bob/salary\n99999\n")
print(os.pread(fd, 65536, 0).decode(), end="")
try:
    os.write(fd, b"set 1 Person/bob/salary\n1")
    print("second request taken")
except OSError as e:
    print("second:", e.strerror)
PY
)
  check_eq "raw answer" "$out" "listener	on_update	on_update.00-rec	accept	
listener	on_update	Person/on_update.10-salary	accept	salary fits
listener	on_update	Person/on_update.20-tags	accept	
listener	on_update	Person/on_update.30-slow	accept	
listener	on_authorized_update	on_authorized_update.00-rec	accept	
listener	on_owned_update	on_owned_update.00-rec	accept	
listener	on_owned_update	Person/on_owned_update.50-after	accept	
accept
second: Invalid argument"
fi

# Nothing of all that was stored, sent, counted or logged, here or on B.
sleep 1
after=$(snapshot)
if [ "$after" == "$before" ]; then pass; else
  fail "dry runs changed something: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | head -5 | tr '\n' ' ')"
fi
check_ok "no carol" test ! -e Person/carol
check_ok "empty still there" test -d Person/empty
check_file "salary unchanged" Person/bob/salary $'4000\n'

# The real changes: their listeners see what the dry runs' saw, less DINEMIC_DRYRUN
# (a create's new key differs: any 64 hex digits). Rejected ones first, so each
# meets the state its dry run met.
real() { # NAME CMD...
  local name=$1
  shift
  : > "$T/seen"
  "$@" 2>/dev/null
  mv "$T/seen" "$T/real.$name"
  norm() { grep -v '^DINEMIC_DRYRUN=1$' "$1" | sed -E 's/^DINEMIC_SIGNER=[0-9a-f]{64}$/DINEMIC_SIGNER=KEY/'; }
  if [ "$name" != "${name#create}" ]; then
    check_eq "$name: a signer, in the dry run and in the real one" \
      "$(grep -cE '^DINEMIC_SIGNER=[0-9a-f]{64}$' "$T/dry.$name") $(grep -cE '^DINEMIC_SIGNER=[0-9a-f]{64}$' "$T/real.$name")" \
      "$(grep -c '^== ' "$T/dry.$name") $(grep -c '^== ' "$T/real.$name")"
  fi
  check_eq "$name: same listeners, environment and stdin as the real change" \
    "$(norm "$T/dry.$name")" "$(norm "$T/real.$name")"
  check_eq "$name: the real change has no DINEMIC_DRYRUN" "$(grep -c DRYRUN "$T/real.$name")" 0
}
real set_no bash -c "echo 999999 > Person/bob/salary"
real append_no bash -c "echo bad >> Person/bob/tags"
real delete_no rm Person/bob/keep
real create_no mkdir Person/admin
real remove_no rmdir Person/locked
real set_ok bash -c "echo 5000 > Person/bob/salary"
real append_ok bash -c "echo good >> Person/bob/tags"
real delete_ok rm Person/bob/note
real create_ok mkdir Person/carol
real remove_ok rmdir Person/empty
check_file "the real set was made" Person/bob/salary $'5000\n'
check_ok "the real create was made" test -d Person/carol
check_ok "B has the real changes" wait_for 10 file_is "$B/Person/bob/salary" $'5000\n'

# On B, which holds no key of bob: the strict policy refuses before any listener.
rm .actions/*.00-rec
refused "B holds no key that may write bob" 1 \
  "refused (EACCES): this node holds no key that may write the object: neither its own nor that of an object in its .authorized (see .node/as; policy strict)" \
  "$B/Person/bob/salary" 1
# Once B signs as an object in bob's .authorized, its listeners are asked,
# with the signer and flags the real change gets.
mkdir "$B/Person/chief"
check_ok "A has chief" wait_for 10 test -d Person/chief
echo Person/chief >> Person/bob/.authorized
check_ok "B has the grant" wait_for 10 grep -q chief "$B/Person/bob/.authorized"
echo Person/chief > "$B/.node/as"
cp "$T/rec" "$B/.actions/on_update.00-rec"
cp "$T/rec" "$B/.actions/on_authorized_update.00-rec"
cp "$T/rec" "$B/.actions/on_owned_update.00-rec"
dry b_set 0 "$B/Person/bob/salary" 6000
check_eq "B: the dry run's signer is chief, authorized, not owned" \
  "$(grep -E '^DINEMIC_(SIGNER|AUTHORIZED|OWNED)=' "$T/dry.b_set" | tr '\n' ' ')" \
  "DINEMIC_AUTHORIZED=1 DINEMIC_OWNED=0 DINEMIC_SIGNER=$(cut -d' ' -f2 "$B/Person/chief/.id") DINEMIC_AUTHORIZED=1 DINEMIC_OWNED=0 DINEMIC_SIGNER=$(cut -d' ' -f2 "$B/Person/chief/.id") "
real b_set bash -c "echo 6000 > '$B/Person/bob/salary'"
refused "only the owner removes" 1 \
  "refused (EPERM): unauthorized: only the object's owner may remove it (policy strict)" \
  --rmdir "$B/Person/bob"

# An encrypted field: the listeners get the clear value; a reason that
# repeats it shows "..." instead, in a dry run as in the log.
echo secret > Person/.encrypted
printf '#!/bin/sh\n[ "$DINEMIC_FIELD" = secret ] || exit 0\necho "not $(cat)" >&2\nexit 1\n' \
  > .actions/Person/on_update.40-secret
chmod +x .actions/Person/on_update.40-secret
refused "an encrypted value, rejected" 1 "rejected by Person/on_update.40-secret: not ..." \
  Person/bob/secret hush-hush-value
check_ok "nothing written" test ! -e Person/bob/secret

cd /
finish
