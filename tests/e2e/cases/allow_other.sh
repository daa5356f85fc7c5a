# SPDX-License-Identifier: MIT
# allow_other.sh - with -o allow_other another local user reaches the mount:
# it reads plain fields, but not what this node decrypts (encrypted fields
# are its user's only: mode 0600, and the daemon refuses such opens from
# anyone else), nor the listener scripts in .actions/, which run as the
# daemon's user. The other user is made for the case and removed after.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to add a user"
command -v useradd >/dev/null && command -v setpriv >/dev/null || skip "no useradd or setpriv"
U=dfs$$
useradd --system --no-create-home --shell /usr/sbin/nologin "$U" || skip "cannot add a user"
trap 'userdel "$U" 2>/dev/null; cleanup' EXIT
uid=$(id -u "$U")
gid=$(id -g "$U")
# as_other CMD...: CMD as the other user, with no supplementary groups
as_other() { setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }

chmod 755 "$T"
start_node n -o allow_other
M=$T/n
mkdir -p "$M/Person/bob"
echo salary > "$M/Person/.encrypted"
echo Bob > "$M/Person/bob/name"
echo 5000 > "$M/Person/bob/salary"
printf '#!/bin/sh\n# secret=hunter2\nexit 0\n' > "$M/.actions/on_update"
chmod 755 "$M/.actions/on_update"

check_eq "the node's user reads the encrypted field" "$(cat "$M/Person/bob/salary")" 5000
check_eq "another user reads a plain field" "$(as_other cat "$M/Person/bob/name" 2>&1)" Bob
check_eq "an encrypted field is its user's only" "$(stat -c %A "$M/Person/bob/salary")" "-rw-------"
check_fails "another user cannot read an encrypted field" "Permission denied" \
  as_other cat "$M/Person/bob/salary"
check_fails "another user cannot list .actions" "Permission denied" as_other ls "$M/.actions"
check_fails "another user cannot read a listener" "Permission denied" \
  as_other cat "$M/.actions/on_update"
check_fails "another user cannot write a field" "Permission denied" \
  as_other sh -c "echo 1 > '$M/Person/bob/name'"
check_eq "the field kept its value" "$(cat "$M/Person/bob/name")" Bob
finish
