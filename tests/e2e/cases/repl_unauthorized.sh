# SPDX-License-Identifier: MIT
# repl_unauthorized.sh - the on_unauthorized_* hooks across nodes. A node
# that writes an object it does not own signs with its node key, so its
# update is unauthorized: under -o policy=open (A, B) it goes to the
# listeners, local and remote, in the order plain, unauthorized, owned; an
# on_unauthorized_update listener can refuse it (EPERM, nothing sent) while
# the owner's authorized writes go on; under the default strict policy (C)
# it is held before any listener runs, logged, and the old state stays.
# The same for an unauthorized delete (rm) and remove (rm -r).
. "$(dirname "$0")/../lib.sh"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P,policy=open
start_node b -o peer=wss://127.0.0.1:$P,policy=open
start_node c -o peer=wss://127.0.0.1:$P
A=$T/a B=$T/b C=$T/c
check_ok "A has two links up" wait_for 10 links_up a 2

# A creates and owns Doc/x; B and C get it.
mkdir -p "$A/Doc/x"
echo v0 > "$A/Doc/x/f"
check_ok "B has A's object" wait_for 10 file_is "$B/Doc/x/f" $'v0\n'
check_ok "C has A's object" wait_for 10 file_is "$C/Doc/x/f" $'v0\n'
XKEY=$(cat "$A/Doc/x/.owner")
BKEY=$(cat "$B/.node/id")
[[ $XKEY =~ ^[0-9a-f]{64}$ ]] && pass || fail "Doc/x/.owner on A: [$XKEY]"
[[ $BKEY =~ ^[0-9a-f]{64}$ ]] && pass || fail "B's .node/id: [$BKEY]"
check_eq "B sees A's object's owner" "$(cat "$B/Doc/x/.owner")" "$XKEY"
check_ok "B's node key is not x's owner" test "$BKEY" != "$XKEY"
check_eq "mode of x/f on A (owner)" "$(stat -c %A "$A/Doc/x/f")" "-rw-r--r--"
check_eq "mode of x/f on C (strict, not owner): no w" "$(stat -c %A "$C/Doc/x/f")" "-r--r--r--"

# Every hook, on every node, appends one line per run:
# HOOK ORIGIN AUTHORIZED OWNED FIELD VALUE SIGNER (FIELD, VALUE: - when none).
HOOKS="on_create on_created on_owned_created on_update on_authorized_update
  on_unauthorized_update on_owned_update on_updated on_authorized_updated
  on_unauthorized_updated on_owned_updated on_delete on_authorized_delete
  on_unauthorized_delete on_owned_delete on_deleted on_authorized_deleted
  on_unauthorized_deleted on_owned_deleted on_remove on_authorized_remove
  on_unauthorized_remove on_owned_remove"
for n in a b c; do
  : > "$T/$n.rec"
  for h in $HOOKS; do
    printf '#!/bin/sh\nv=$(cat)\necho "$DINEMIC_HOOK $DINEMIC_ORIGIN $DINEMIC_AUTHORIZED $DINEMIC_OWNED ${DINEMIC_FIELD:--} ${v:--} $DINEMIC_SIGNER" >> %s\n' \
      "$T/$n.rec" > "$T/$n/.actions/$h.rec"
    chmod +x "$T/$n/.actions/$h.rec"
  done
done

# mark NODE: lines recorded so far; since NODE MARK: the lines after it,
# signers shown as x (the object's key) or B (B's node key).
mark() { wc -l < "$T/$1.rec"; }
since() { tail -n +$(($2 + 1)) "$T/$1.rec" | sed -e "s/$XKEY\$/x/" -e "s/$BKEY\$/B/"; }
# Before-listeners run in the writer, after-listeners on their own queue:
# each sequence keeps its order, the two may interleave.
AFTER='^on_[a-z_]*(created|updated|deleted) '
before_since() { since "$1" "$2" | grep -vE "$AFTER"; }
after_since() { since "$1" "$2" | grep -E "$AFTER"; }
# has_lines NODE MARK N: at least N lines after MARK (for wait_for)
has_lines() { [ "$(since "$1" "$2" | wc -l)" -ge "$3" ]; }
# rejected_on_c N: C logged N updates held for their signer (for wait_for)
rejected_on_c() { [ "$(grep -c 'signer not authorized' "$C/.node/log")" -ge "$1" ]; }
history_lines() { wc -l < "$T/$1/Doc/x/.history"; }

# --- an unauthorized write: B writes A's object -------------------------
ma=$(mark a) mb=$(mark b) mc=$(mark c)
check_ok "B (policy=open) writes A's object" bash -c "echo v1 > '$B/Doc/x/f'"
check_file "B has its value" "$B/Doc/x/f" $'v1\n'
check_eq "B's before-listeners: plain, then unauthorized (local, not owned)" \
  "$(before_since b "$mb")" "on_update local 0 0 f v1 B
on_unauthorized_update local 0 0 f v1 B"
check_ok "B's after-listeners ran" wait_for 5 has_lines b "$mb" 4
check_eq "B's after-listeners: plain, then unauthorized" "$(after_since b "$mb")" \
  "on_updated local 0 0 f v1 B
on_unauthorized_updated local 0 0 f v1 B"
check_ok "A takes B's update" wait_for 10 file_is "$A/Doc/x/f" $'v1\n'
check_ok "A's after-listeners ran" wait_for 5 has_lines a "$ma" 6
check_eq "A's before-listeners: plain, unauthorized, owned (remote)" \
  "$(before_since a "$ma")" "on_update remote 0 1 f v1 B
on_unauthorized_update remote 0 1 f v1 B
on_owned_update remote 0 1 f v1 B"
check_eq "A's after-listeners: plain, unauthorized, owned (remote)" \
  "$(after_since a "$ma")" "on_updated remote 0 1 f v1 B
on_unauthorized_updated remote 0 1 f v1 B
on_owned_updated remote 0 1 f v1 B"
last=$(tail -1 "$A/Doc/x/.history")
check_eq "A's history: the update is B's, signed with B's node key" \
  "$(awk '{ print $4, $5, $6 }' <<< "$last")" "$BKEY set f"
H1=$(awk '{ print $2 }' <<< "$last")
check_eq "B's history ends with the same update" "$(tail -1 "$B/Doc/x/.history")" "$last"

# --- strict C holds it before any listener runs ------------------------
check_ok "C logs the held update" wait_for 10 grep -q \
  "rejected remote update ${H1:0:16} of Doc/x/f: signer not authorized" "$C/.node/log"
check_file "C keeps the old value" "$C/Doc/x/f" $'v0\n'
check_eq "no listener ran on C" "$(since c "$mc")" ""
# C, strict, cannot write an object it does not own either.
out=$(bash -c "echo vc > '$C/Doc/x/f'" 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ]; then
  fail "strict C wrote A's object"
elif [[ $out != *"Permission denied"* && $out != *"Operation not permitted"* ]]; then
  fail "strict C's write of A's object: failed with [$out]"
else
  pass
fi
check_file "C's failed write changed nothing" "$C/Doc/x/f" $'v0\n'
check_eq "no listener ran on C for its own failed write" "$(since c "$mc")" ""

# --- an on_unauthorized_update listener refuses on B --------------------
cat > "$B/.actions/on_unauthorized_update.00-deny" <<'SH'
#!/bin/sh
[ "$DINEMIC_FIELD" = f ] || exit 0
echo "B takes no unauthorized f (origin $DINEMIC_ORIGIN)" >&2
exit 1
SH
chmod +x "$B/.actions/on_unauthorized_update.00-deny"
ma=$(mark a) mb=$(mark b) mc=$(mark c)
hb=$(history_lines b) ha=$(history_lines a)
check_fails "B's refused write fails with EPERM" "Operation not permitted" \
  bash -c "echo denied > '$B/Doc/x/f'"
check_file "B keeps its value" "$B/Doc/x/f" $'v1\n'
check_eq "B's history did not grow" "$(history_lines b)" "$hb"
check_ok "B's log names the refusal" grep -q \
  "rejected on_unauthorized_update Doc/x/f by on_unauthorized_update.00-deny: B takes no unauthorized f (origin local)" \
  "$B/.node/log"
check_eq "B: the plain hook ran, the rest never (refused in between)" \
  "$(since b "$mb")" "on_update local 0 0 f denied B"
# Another unauthorized write of B, of a field the listener lets through:
# once A has it, A would have had the refused one, had B sent it.
mb=$(mark b)
check_ok "B's unauthorized write of another field" bash -c "echo w1 > '$B/Doc/x/g'"
check_ok "A takes it" wait_for 10 file_is "$A/Doc/x/g" $'w1\n'
check_file "A never got the refused value" "$A/Doc/x/f" $'v1\n'
check_eq "A's history grew by one update" "$(history_lines a)" $((ha + 1))
check_ok "no refused value in A's history" test "$(grep -c "$BKEY set f" "$A/Doc/x/.history")" -eq 1
check_ok "B's listeners ran for g" wait_for 5 has_lines b "$mb" 4
check_eq "B's listeners for g" "$(since b "$mb" | LC_ALL=C sort)" "$(LC_ALL=C sort <<'EOF'
on_update local 0 0 g w1 B
on_unauthorized_update local 0 0 g w1 B
on_updated local 0 0 g w1 B
on_unauthorized_updated local 0 0 g w1 B
EOF
)"
check_ok "A's listeners ran for g" wait_for 5 has_lines a "$ma" 6
check_eq "A's before-listeners for g" "$(before_since a "$ma")" "on_update remote 0 1 g w1 B
on_unauthorized_update remote 0 1 g w1 B
on_owned_update remote 0 1 g w1 B"
# The owner's own writes of f are authorized: the listener is not asked.
ma=$(mark a) mb=$(mark b)
check_ok "A writes f" bash -c "echo v3 > '$A/Doc/x/f'"
check_file "A has it" "$A/Doc/x/f" $'v3\n'
check_ok "B takes A's authorized f" wait_for 10 file_is "$B/Doc/x/f" $'v3\n'
check_ok "C takes A's authorized f (chained on the updates it holds)" \
  wait_for 10 file_is "$C/Doc/x/f" $'v3\n'
check_ok "C held B's g" wait_for 5 rejected_on_c 2
check_ok "C has no g" test ! -e "$C/Doc/x/g"
check_ok "A's listeners ran for v3" wait_for 5 has_lines a "$ma" 6
check_eq "A's before-listeners: authorized, owned (local)" "$(before_since a "$ma")" \
  "on_update local 1 1 f v3 x
on_authorized_update local 1 1 f v3 x
on_owned_update local 1 1 f v3 x"
check_eq "A's after-listeners: authorized, owned (local)" "$(after_since a "$ma")" \
  "on_updated local 1 1 f v3 x
on_authorized_updated local 1 1 f v3 x
on_owned_updated local 1 1 f v3 x"
check_ok "B's listeners ran for v3" wait_for 5 has_lines b "$mb" 4
check_eq "B's before-listeners: authorized (remote, not owned)" "$(before_since b "$mb")" \
  "on_update remote 1 0 f v3 x
on_authorized_update remote 1 0 f v3 x"
check_eq "B's after-listeners: authorized (remote, not owned)" "$(after_since b "$mb")" \
  "on_updated remote 1 0 f v3 x
on_authorized_updated remote 1 0 f v3 x"
check_ok "C's listeners ran for v3" wait_for 5 has_lines c "$mc" 4
check_eq "C: only the authorized update reached its listeners" \
  "$(since c "$mc" | LC_ALL=C sort)" "$(LC_ALL=C sort <<'EOF'
on_update remote 1 0 f v3 x
on_authorized_update remote 1 0 f v3 x
on_updated remote 1 0 f v3 x
on_authorized_updated remote 1 0 f v3 x
EOF
)"
rm "$B/.actions/on_unauthorized_update.00-deny"
# A and B applied the same updates: one chain, B's two signed by B's node key.
check_eq "B's history is A's" "$(cat "$B/Doc/x/.history")" "$(cat "$A/Doc/x/.history")"
if out=$(verify_history "$A/Doc/x/.history"); then pass; else fail "A's history chain: $out"; fi
check_eq "A's history: signers and operations" \
  "$(awk '{ print $4, $5, $6 }' "$A/Doc/x/.history" | sed -e "s/^$XKEY /x /" -e "s/^$BKEY /B /")" \
  "x create -
x set f
B set f
B set g
x set f"

# --- an unauthorized delete: rm on B ------------------------------------
ma=$(mark a) mb=$(mark b) mc=$(mark c)
check_ok "B deletes A's field" rm "$B/Doc/x/f"
check_ok "gone on B" test ! -e "$B/Doc/x/f"
check_eq "B's before-listeners: plain, then unauthorized delete" "$(before_since b "$mb")" \
  "on_delete local 0 0 f - B
on_unauthorized_delete local 0 0 f - B"
check_ok "B's after-listeners ran" wait_for 5 has_lines b "$mb" 4
check_eq "B's after-listeners: plain, then unauthorized deleted" "$(after_since b "$mb")" \
  "on_deleted local 0 0 f - B
on_unauthorized_deleted local 0 0 f - B"
check_ok "A deletes it too" wait_for 10 test ! -e "$A/Doc/x/f"
check_ok "A's after-listeners ran" wait_for 5 has_lines a "$ma" 6
check_eq "A's before-listeners: plain, unauthorized, owned delete (remote)" \
  "$(before_since a "$ma")" "on_delete remote 0 1 f - B
on_unauthorized_delete remote 0 1 f - B
on_owned_delete remote 0 1 f - B"
check_eq "A's after-listeners: plain, unauthorized, owned deleted (remote)" \
  "$(after_since a "$ma")" "on_deleted remote 0 1 f - B
on_unauthorized_deleted remote 0 1 f - B
on_owned_deleted remote 0 1 f - B"
check_ok "C holds the delete" wait_for 10 rejected_on_c 3
check_file "C keeps the field" "$C/Doc/x/f" $'v3\n'
check_eq "no listener ran on C for the delete" "$(since c "$mc")" ""

# --- an unauthorized remove: rm -r on B (one field left, g) -------------
ma=$(mark a) mb=$(mark b) mc=$(mark c)
check_ok "B removes A's object" rm -r "$B/Doc/x"
check_ok "gone on B" test ! -e "$B/Doc/x"
check_eq "B's before-listeners: unauthorized delete of g, then remove" \
  "$(before_since b "$mb")" "on_delete local 0 0 g - B
on_unauthorized_delete local 0 0 g - B
on_remove local 0 0 - - B
on_unauthorized_remove local 0 0 - - B"
check_ok "B's after-listeners ran" wait_for 5 has_lines b "$mb" 6
check_eq "B's after-listeners (none for a remove)" "$(after_since b "$mb")" \
  "on_deleted local 0 0 g - B
on_unauthorized_deleted local 0 0 g - B"
check_ok "A removes it too" wait_for 10 test ! -e "$A/Doc/x"
check_ok "A's after-listeners ran" wait_for 5 has_lines a "$ma" 9
check_eq "A's before-listeners: delete, then remove, each plain, unauthorized, owned" \
  "$(before_since a "$ma")" "on_delete remote 0 1 g - B
on_unauthorized_delete remote 0 1 g - B
on_owned_delete remote 0 1 g - B
on_remove remote 0 1 - - B
on_unauthorized_remove remote 0 1 - - B
on_owned_remove remote 0 1 - - B"
check_eq "A's after-listeners (none for a remove)" "$(after_since a "$ma")" \
  "on_deleted remote 0 1 g - B
on_unauthorized_deleted remote 0 1 g - B
on_owned_deleted remote 0 1 g - B"
check_ok "C holds the delete and the remove" wait_for 10 rejected_on_c 5
check_eq "no listener ran on C for them" "$(since c "$mc")" ""

# --- the trees ------------------------------------------------------------
check_ok "A and B agree" wait_for 10 same_trees "$A" "$B"
check_same_trees "A B" "$A" "$B"
check_eq "A's tree: the model, no object" "$(tree_dump "$A")" "d Doc"
check_eq "C keeps the object with A's last authorized value" "$(tree_dump "$C")" \
  "d Doc
d Doc/x
f Doc/x/f $(printf 'v3\n' | sha256sum | cut -d' ' -f1)"
check_eq "C still shows x's owner" "$(cat "$C/Doc/x/.owner")" "$XKEY"
check_eq "C held exactly B's five updates" "$(grep -c 'signer not authorized' "$C/.node/log")" 5
check_eq "A held nothing (policy=open)" "$(grep -c 'signer not authorized' "$A/.node/log")" 0
# Every listener run, counted over the whole case (a late extra run shows here).
check_eq "runs on A" "$(mark a)" 33
check_eq "runs on B" "$(mark b)" 23
check_eq "runs on C" "$(mark c)" 4
check_eq "C's listeners never saw an unauthorized update" \
  "$(awk '$3 != 1' "$T/c.rec")" ""

for n in c b a; do stop_node $n; done
finish
