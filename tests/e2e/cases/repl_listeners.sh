# SPDX-License-Identifier: MIT
# repl_listeners.sh - listeners judge remote updates too: a node whose
# before-listener rejects a field keeps its old value while its peers take
# the new one; listeners see DINEMIC_ORIGIN=remote. And -o network_key: a
# node with another key, or none, is refused; one with the same key joins.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 1)
K1=$T/k1 K2=$T/k2
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$K1"   # 64 hex digits
# 32 raw bytes; the last a newline, which must stay part of a raw key
{ head -c 31 /dev/urandom; printf '\n'; } > "$K2"
chmod 600 "$K1" "$K2"

start_node a -o listen=127.0.0.1:$P,network_key=$K1
start_node b -o peer=wss://127.0.0.1:$P,network_key=$K1
start_node c -o peer=wss://127.0.0.1:$P,network_key=$K1
A=$T/a B=$T/b C=$T/c

check_ok "A has two links up (same network key)" wait_for 10 links_up a 2

mkdir -p "$A/Doc/x"
echo old > "$A/Doc/x/secret"
echo t1 > "$A/Doc/x/title"
check_ok "C has the first value" wait_for 10 file_is "$C/Doc/x/title" $'t1\n'
check_file "C's secret before the listener" "$C/Doc/x/secret" $'old\n'

# C rejects any update of a field named secret.
cat > "$C/.actions/on_update.10-deny" <<'SH'
#!/bin/sh
[ "$DINEMIC_FIELD" = secret ] || exit 0
echo "secret is not welcome here (origin $DINEMIC_ORIGIN)" >&2
exit 1
SH
chmod +x "$C/.actions/on_update.10-deny"
# B and A record the origin their listeners are told, before and after.
for n in a b; do
  printf '#!/bin/sh\necho "$DINEMIC_HOOK $DINEMIC_ORIGIN $DINEMIC_OBJECT ${DINEMIC_FIELD:--} $(cat)" >> %s\n' \
    "$T/$n.origin" > "$T/$n/.actions/on_update.rec"
  cp "$T/$n/.actions/on_update.rec" "$T/$n/.actions/on_updated.rec"
  chmod +x "$T/$n/.actions/on_update.rec" "$T/$n/.actions/on_updated.rec"
done

echo new > "$A/Doc/x/secret"
check_ok "B takes the new secret" wait_for 10 file_is "$B/Doc/x/secret" $'new\n'
check_file "A has it" "$A/Doc/x/secret" $'new\n'
# A later update of the same object: once C has it, C has judged the secret.
echo t2 > "$A/Doc/x/title"
check_ok "C takes the next update" wait_for 10 file_is "$C/Doc/x/title" $'t2\n'
check_file "C keeps its old secret" "$C/Doc/x/secret" $'old\n'
check_ok "C's log names the rejection" grep -q \
  "rejected on_update Doc/x/secret by on_update.10-deny: secret is not welcome here (origin remote)" \
  "$C/.node/log"
check_ok "B's listeners ran" wait_for 5 grep -q "^on_updated remote x title t2$" "$T/b.origin"
check_eq "B's before-listener saw origin remote" \
  "$(grep '^on_update ' "$T/b.origin" | tr '\n' ';')" \
  "on_update remote x secret new;on_update remote x title t2;"
check_eq "B's after-listener saw origin remote" \
  "$(grep '^on_updated ' "$T/b.origin" | tr '\n' ';')" \
  "on_updated remote x secret new;on_updated remote x title t2;"
check_ok "A's listener saw origin local" wait_for 5 grep -q "^on_updated local x title t2$" "$T/a.origin"
check_eq "A's before-listener saw origin local" \
  "$(grep '^on_update ' "$T/a.origin" | tr '\n' ';')" \
  "on_update local x secret new;on_update local x title t2;"
check_ok "C's history still names the rejected update" grep -q ' set secret' "$C/Doc/x/.history"
# rejecting again, and going on
echo newer > "$A/Doc/x/secret"
echo t3 > "$A/Doc/x/title"
check_ok "C takes updates after two rejections" wait_for 10 file_is "$C/Doc/x/title" $'t3\n'
check_file "C still keeps its old secret" "$C/Doc/x/secret" $'old\n'
check_eq "C rejected twice" "$(grep -c 'by on_update.10-deny' "$C/.node/log")" 2
rm "$C/.actions/on_update.10-deny"

# network_key: a node with another key is refused, both ways of looking.
start_node d -o peer=wss://127.0.0.1:$P,network_key=$K2
mkdir -p "$T/d/Spy/d" && echo leaked > "$T/d/Spy/d/f"
# and one with no network key at all
start_node e -o peer=wss://127.0.0.1:$P
mkdir -p "$T/e/Spy/e" && echo leaked > "$T/e/Spy/e/f"
check_ok "A logs D's refusal" wait_for 10 grep -q "refused at the handshake: wrong network key" "$A/.node/log"
check_ok "A logs E's refusal" wait_for 10 grep -q "refused at the handshake: peer has no network key" "$A/.node/log"
check_eq "D's link never up" "$(stat_of d peers_up)" 0
check_eq "E's link never up" "$(stat_of e peers_up)" 0
line=$(sed -n 2p "$T/d/.node/peers")
[[ $line == wss://127.0.0.1:$P\ * ]] && pass || fail "D's .node/peers: no link to A: [$line]"
# Sampled while D retries: never up, and once refused the error column
# always says why ("wrong network key", or "closed" when A hung up first).
ups=0 blanks=0
for i in $(seq 1 30); do
  line=$(sed -n 2p "$T/d/.node/peers")
  [[ $(awk '{ print $2 }' <<< "$line") == up ]] && ups=$((ups + 1))
  [[ $line == *\ - ]] && blanks=$((blanks + 1)) && blank=$line
  sleep 0.05
done
check_eq "D's .node/peers: link to A never up" $ups 0
check_eq "D's .node/peers: samples of the refused link with no error shown" $blanks 0
[ $blanks -eq 0 ] || echo "e.g. [$blank]; D's log says: $(grep -m1 'refused' "$T/d.log")"
check_ok "A never gets D's or E's data" test ! -e "$A/Spy"
check_ok "D never gets A's data" test ! -e "$T/d/Doc"
check_ok "E never gets A's data" test ! -e "$T/e/Doc"
check_eq "A still has two links up" "$(stat_of a peers_up)" 2
check_eq "A received nothing from D or E" "$(ls "$A")" "Doc"

# The same key joins: F gets everything and its data reaches A and B.
start_node f -o peer=wss://127.0.0.1:$P,network_key=$K1
mkdir -p "$T/f/Friend/f" && echo hi > "$T/f/Friend/f/g"
check_ok "F's data reaches B" wait_for 10 file_is "$B/Friend/f/g" $'hi\n'
check_ok "F has A's tree" wait_for 10 same_trees "$A" "$T/f" "$B"
check_same_trees "A B F" "$A" "$T/f" "$B"
check_eq "A has three links up" "$(stat_of a peers_up)" 3

# A key file others may read is refused at start.
cp "$K1" "$T/k644" && chmod 644 "$T/k644"
mkdir -p "$T/g"
check_fails "network_key readable by others" "chmod 600" \
  timeout 5 "$DINEMICFS" -f -o network_key="$T/k644" "$T/g.state" "$T/g"
is_mounted "$T/g" && fusermount3 -u -z "$T/g"

for n in f e d c b a; do stop_node $n; done
finish
