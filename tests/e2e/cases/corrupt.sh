# SPDX-License-Identifier: MIT
# corrupt.sh - a corrupted record in the store is reported, and the node keeps
# serving everything else.
. "$(dirname "$0")/../lib.sh"

: "${STORE_POKE:?STORE_POKE must name the store_poke tool}"
start_node a
M=$T/a
mkdir -p "$M/Person/bob" "$M/Person/alice"
echo Bob > "$M/Person/bob/name"
echo 1234 > "$M/Person/bob/salary"
echo Alice > "$M/Person/alice/name"
stop_node a

check_ok "poke" "$STORE_POKE" "$T/a.state" Person bob salary
start_node a
check_fails "corrupt field reports EIO" "Input/output error" cat "$M/Person/bob/salary"
check_file "rest of the object" "$M/Person/bob/name" $'Bob\n'
check_file "other objects" "$M/Person/alice/name" $'Alice\n'
check_eq "listing skips the bad record" "$(ls "$M/Person/bob" | tr '\n' ' ')" "name "
check_eq "stats count it" "$(awk '$1 == "corrupt_records" { print ($2 > 0) }' "$M/.node/stats")" 1
check_ok "log names it" grep -q "corrupt field record" "$M/.node/log"
echo Robert > "$M/Person/bob/name"
check_file "writes go on" "$M/Person/bob/name" $'Robert\n'
echo 1500 > "$M/Person/bob/salary" 2>/dev/null
check_file "a new value replaces the bad record" "$M/Person/bob/salary" $'1500\n'
stop_node a
finish
