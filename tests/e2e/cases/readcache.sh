# SPDX-License-Identifier: MIT
# readcache.sh - readers keep the kernel's page cache of a field; every
# change drops it: a read right after a change, local or from a peer,
# returns the new value on every node, and a deleted field is gone. Each
# file is read first (cached), then changed, then read once: no retries.
# Values keep one length where they can, so that no size change tells the
# kernel to drop what it cached.
. "$(dirname "$0")/../lib.sh"

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P,sync=relaxed
start_node b -o peer=wss://127.0.0.1:$P,sync=relaxed
A=$T/a B=$T/b
check_ok "B's link up" wait_for 10 links_up b 1

# synced OBJ: B's .history of Note/OBJ is A's (B has applied every update)
synced() { cmp -s "$A/Note/$1/.history" "$B/Note/$1/.history"; }

# prime FILE...: read each file on both nodes, so that the kernel caches it
prime() {
  local f
  for f in "$@"; do
    cat "$A/Note/$f" "$B/Note/$f" > /dev/null 2>&1
  done
}

# now_reads WHAT OBJ FIELD WANT [FROM TO]: the node that changed it (a)
# reads WANT at once, the other (b) as soon as it has every update of OBJ,
# each with one read
now_reads() {
  local from=$T/${5:-a} to=$T/${6:-b}
  check_file "$1: ${5:-a}'s next read" "$from/Note/$2/$3" "$4"
  if wait_for 10 synced "$2"; then
    check_file "$1: ${6:-b}'s next read" "$to/Note/$2/$3" "$4"
  else
    fail "$1: ${6:-b} did not get the updates of $2"
  fi
}

# now_reads_long WHAT OBJ FIELD WANT: now_reads of a long value, told by its digest
now_reads_long() {
  local want got
  want=$(printf %s "$4" | sha1sum)
  got=$(sha1sum < "$A/Note/$2/$3")
  check_eq "$1: a's next read (sha1)" "$got" "$want"
  if wait_for 10 synced "$2"; then
    got=$(sha1sum < "$B/Note/$2/$3")
    check_eq "$1: b's next read (sha1)" "$got" "$want"
  else
    fail "$1: b did not get the updates of $2"
  fi
}

# now_gone WHAT OBJ FIELD: no file at that name on A, and on B once it has the update
now_gone() {
  check_fails "$1: gone on A" "No such file" cat "$A/Note/$2/$3"
  if wait_for 10 synced "$2"; then
    check_fails "$1: gone on B" "No such file" cat "$B/Note/$2/$3"
  else
    fail "$1: B did not get A's updates of $2"
  fi
}

mkdir -p "$A/Note/o"
printf aaaa > "$A/Note/o/f"
check_ok "B has the field" wait_for 10 file_is "$B/Note/o/f" aaaa
prime o/f
check_file "A reads it again" "$A/Note/o/f" aaaa
check_file "B reads it again" "$B/Note/o/f" aaaa

# Written through a descriptor opened before the reads: the kernel only
# learns that the writer's write happened, not what it changed.
exec 3<> "$A/Note/o/f"
prime o/f
printf bbbb >&3
now_reads "write(2) by another process" o f bbbb
exec 3>&-

printf cccc > "$A/Note/o/f"
now_reads "echo > field" o f cccc

# O_APPEND, opened before the reads.
exec 4>> "$A/Note/o/f"
prime o/f
printf dd >&4
exec 4>&-
now_reads "append" o f ccccdd

prime o/f
truncate -s 2 "$A/Note/o/f"
now_reads "truncate" o f cc

# Two pages, the second changed: what a write(2) covers tells the kernel
# nothing of it. A peer's update (repeated on B through its mount with a
# one-byte write), and a write through a handle that read the value before
# another process changed it (it writes onto what it read).
head -c 4096 /dev/zero | tr '\0' x > "$T/page"
v1=$(cat "$T/page"; printf 1111)
v2=$(cat "$T/page"; printf 2222)
printf %s "$v1" > "$A/Note/o/long"
check_ok "B has the long value" wait_for 10 synced o
prime o/long
printf %s "$v2" > "$A/Note/o/long"
now_reads_long "a peer's change past the first page" o long "$v2"
exec 5<> "$A/Note/o/long"
head -c 10 <&5 > /dev/null
printf %s "$v1" > "$A/Note/o/long"
prime o/long
check_ok "B has v1 again" wait_for 10 synced o
printf x >&5
exec 5>&-
now_reads_long "a write onto an older value" o long "$v2"

# mv over the field: its name reads the other's value.
printf eeee > "$A/Note/o/g"
printf ffff > "$A/Note/o/f"
prime o/f o/g
mv "$A/Note/o/g" "$A/Note/o/f"
now_reads "mv over it" o f eeee
now_gone "mv's source" o g

# mv away, rm.
prime o/f
mv "$A/Note/o/f" "$A/Note/o/h"
now_gone "mv away" o f
now_reads "mv's target" o h eeee
prime o/h
rm "$A/Note/o/h"
now_gone "rm" o h

# Opened again through a descriptor after rm, with no name to look up: the
# open finds the field gone, though the open before found it stored.
printf mmmm > "$A/Note/o/r"
check_ok "B has r" wait_for 10 synced o
exec 6< "$A/Note/o/r" 7< "$B/Note/o/r"
prime o/r
rm "$A/Note/o/r"
check_fails "rm, reopened through a descriptor: gone on A" "No such file" \
  bash -c ': < /proc/self/fd/6'
if wait_for 10 synced o; then
  check_fails "rm, reopened through a descriptor: gone on B" "No such file" \
    bash -c ': < /proc/self/fd/7'
else
  fail "rm, reopened through a descriptor: B did not get A's updates of o"
fi
exec 6<&- 7<&-

# A change made on B: B reads it at once, A once it has it.
mkdir "$B/Note/q"
printf kkkk > "$B/Note/q/f"
check_ok "A has q" wait_for 10 synced q
prime q/f
printf llll > "$B/Note/q/f"
now_reads "B's write" q f llll b a

# Dict keys: set, and the dict deleted.
mkdir "$A/Note/o/d"
printf hhhh > "$A/Note/o/d/k"
check_ok "B has the key" wait_for 10 synced o
prime o/d/k
printf iiii > "$A/Note/o/d/k"
now_reads "a dict key" o d/k iiii
prime o/d/k
rm -r "$A/Note/o/d"
now_gone "a key of a deleted dict" o d/k

# The object removed.
mkdir "$A/Note/p"
printf jjjj > "$A/Note/p/f"
check_ok "B has p" wait_for 10 synced p
prime p/f
rm -r "$A/Note/p"
check_fails "removed object's field: gone on A" "No such file" cat "$A/Note/p/f"
check_ok "B has the removal" wait_for 10 bash -c "! ls '$B/Note' | grep -qx p"
check_fails "removed object's field: gone on B" "No such file" cat "$B/Note/p/f"

# Encrypted: a reader whose key is revoked reads nothing more, cached or not.
mkdir -p "$A/Person/bob"
echo salary > "$A/Person/.encrypted"
echo 1234 > "$A/Person/bob/salary"
mkdir "$B/Person/chief"
check_ok "A has chief" wait_for 10 test -d "$A/Person/chief"
echo Person/chief >> "$A/Person/bob/.authorized"
check_ok "B reads salary once chief is listed" wait_for 10 file_is "$B/Person/bob/salary" $'1234\n'
check_file "B reads it again" "$B/Person/bob/salary" $'1234\n'
sed -i '/chief/d' "$A/Person/bob/.authorized"
check_ok "B has the revocation" wait_for 10 \
  bash -c "cmp -s '$A/Person/bob/.history' '$B/Person/bob/.history'"
check_fails "B's next read after the revocation" "Permission denied" cat "$B/Person/bob/salary"

finish
