# SPDX-License-Identifier: MIT
# afterqueue.sh - one peer cannot fill the after-listeners' queue for all.
# A runs with -o listener_queue=4M (a peer's share: 1 MiB) and an
# on_updated listener that hangs on the hostile peer's model until told to
# go on. The hostile peer H, with one node key, sends 24 values of 256 KiB
# to its own object. A applies H's updates until H's share is full, then
# keeps the rest waiting, counted and logged, while the honest peer B's
# updates and A's local writes go on; once the listener goes on, all of H's
# updates arrive and every listener run happens. Before the share, the one
# queue filled up and the applier, and so every peer, waited on it.
. "$(dirname "$0")/../lib.sh"
need_hostile
make_netkey

P=$(port_base 2)
start_node a -o "listen=127.0.0.1:$P,network_key=$NETKEY,listener_queue=4M"
start_node b -o "listen=127.0.0.1:$((P + 1)),peer=wss://127.0.0.1:$P,network_key=$NETKEY"
A=$T/a
B=$T/b
check_ok "B's link to A is up" wait_for 10 links_up b 1

# Every after-listener run is told in $T/told; H's model waits for $T/go.
cat > "$T/on_updated" <<SCRIPT
#!/bin/sh
if [ "\$DINEMIC_MODEL" = Junk ]; then
  while [ ! -e "$T/go" ]; do sleep 0.05; done
fi
echo "\$DINEMIC_MODEL/\$DINEMIC_OBJECT/\$DINEMIC_FIELD" >> "$T/told"
SCRIPT
chmod 755 "$T/on_updated"
cp "$T/on_updated" "$A/.actions/on_updated" || fail "install the listener"
chmod 755 "$A/.actions/on_updated"
mkdir -p "$A/Person/ann" "$B/Person/bob" || fail "mkdir"
check_ok "A has bob" wait_for 10 test -d "$A/Person/bob"

# H: its own model and object, then 24 sets of 256 KiB, four a message.
K=$T/k.key
NK=$T/h.node
"$MKUPDATE" newkey "$K" >/dev/null
"$MKUPDATE" newkey "$NK" >/dev/null
mk() { "$MKUPDATE" make "$@"; }
mk --key "$K" --op model-create --clock now --entity model --model Junk --out "$T/m.upd" >/dev/null
o=$(mk --key "$K" --op object-create --clock now --entity self --model Junk --name o \
  --out "$T/o.upd")
steps=(send "$T/m.upd" "$T/o.upd")
for i in $(seq 1 24); do
  head -c $((256 << 10)) /dev/urandom > "$T/v$i"
  mk --key "$K" --op set --clock now --entity self --model Junk --name "f$i" \
    --value-file "$T/v$i" --prev "$o" --out "$T/f$i.upd" >/dev/null || fail "make f$i"
  [ $((i % 4)) -eq 1 ] && steps+=(send)
  steps+=("$T/f$i.upd")
done
out=$(timeout 90 "$WSPROBE" --netkey "$NETKEY" --key "$NK" "$P" handshake "${steps[@]}" open 2>&1)
rc=$?
check_ok "H's messages were all read: $(tail -1 <<<"$out")" test "$rc" -eq 0

h_fields() { find "$A/Junk/o" -maxdepth 1 -name 'f*' 2>/dev/null | wc -l; }
stat_at_least() { [ "$(stat_of "$1" "$2")" -ge "$3" ]; }
check_ok "A counted H's full share" wait_for 10 stat_at_least a listener_queue_full 1
check_ok "and logged it" wait_for 5 grep -q "after-listeners fall behind" "$T/a.log"

# B and A's own writers go on while H's updates wait.
echo from-b > "$B/Person/bob/note" || fail "write on B"
check_ok "B's update arrives on A while H's wait" wait_for 10 file_is "$A/Person/bob/note" $'from-b\n'
check_ok "a local write on A goes on" timeout 10 sh -c "echo local > '$A/Person/ann/note'"
check_eq "A shows it" "$(cat "$A/Person/ann/note")" "local"
n=$(h_fields)
echo "# H's fields on A while its listener hangs: $n of 24"
check_ok "H's updates wait: $n of 24 applied" test "$n" -lt 24
bytes=$(stat_of a listener_queue_bytes)
echo "# A's listener queue holds $bytes bytes"
check_ok "the queue holds less than the peers' part and one turn ($bytes bytes)" \
  test "$bytes" -le $(((3 << 20) + (8 << 20) + (256 << 10)))
check_ok "B has A's local write" wait_for 10 file_is "$B/Person/ann/note" $'local\n'

# The listener goes on: everything arrives, and every run happens.
touch "$T/go"
fields_are() { [ "$(find "$1/Junk/o" -maxdepth 1 -name 'f*' 2>/dev/null | wc -l)" -eq "$2" ]; }
check_ok "all of H's updates arrive on A" wait_for 60 fields_are "$A" 24
check_ok "and on B" wait_for 60 fields_are "$B" 24
told() { [ "$(grep -c "^$1" "$T/told" 2>/dev/null)" -ge "$2" ]; }
check_ok "A's listener ran for each of H's values" wait_for 60 told Junk/o/f 24
check_ok "and for B's and the local write" told Person/ 2
queue_empty() { [ "$(stat_of a listener_queue_jobs)" -eq 0 ]; }
check_ok "A's queue is empty" wait_for 10 queue_empty
for i in 1 12 24; do
  check_ok "f$i is whole on A" cmp -s "$T/v$i" "$A/Junk/o/f$i"
done
finish
