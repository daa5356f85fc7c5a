# SPDX-License-Identifier: MIT
# lockedvalues.sh - clear values of encrypted fields are held in locked
# memory: writing and reading plain fields locks nothing more (VmLck of the
# daemon stays), while writing, reading and judging an encrypted one holds
# its clear value in locked memory (VmLck grows by the pool's first chunk,
# 1 MiB). The values read back are the values written.
. "$(dirname "$0")/../lib.sh"

# AddressSanitizer makes mlock(2) do nothing.
sanitized_build && skip "a sanitizer build locks no memory"
start_node a
A=$T/a
pid=$(stat_of a pid)
vmlck() { awk '$1 == "VmLck:" { print $2 }' "/proc/$pid/status"; }
limit=$(awk '$1 == "Max" && $2 == "locked" { print $4 }' "/proc/$pid/limits")
[ "$limit" = unlimited ] || [ "$limit" -ge $((8 << 20)) ] ||
  skip "the daemon may lock only $limit bytes"

mkdir -p "$A/Person/bob" || fail "mkdir"
printf '#!/bin/sh\ncat > /dev/null\n' > "$A/.actions/on_update"
chmod 755 "$A/.actions/on_update"
before=$(vmlck)
for i in $(seq 1 50); do echo "plain $i" > "$A/Person/bob/f$i"; done
cat "$A"/Person/bob/f* > /dev/null
plain=$(vmlck)
echo "# VmLck: $before kB at start, $plain kB after 50 plain fields"
check_eq "plain fields lock nothing" "$plain" "$before"

echo salary > "$A/Person/.encrypted" || fail "list salary"
echo salary-7319-clear > "$A/Person/bob/salary" || fail "write salary"
check_file "the encrypted value reads back" "$A/Person/bob/salary" $'salary-7319-clear\n'
after=$(vmlck)
echo "# VmLck: $after kB after an encrypted field"
check_ok "its clear value is in locked memory ($before -> $after kB)" \
  test "$after" -ge $((before + 1024))
check_ok "the store holds no clear value" sh -c "! grep -rqa salary-7319-clear '$T/a.state/db'"
finish
