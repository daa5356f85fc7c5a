# SPDX-License-Identifier: MIT
# systemd.sh - the units in contrib/systemd pass `systemd-analyze verify`,
# with their instance names filled in as an administrator would. Skipped
# where systemd-analyze is missing. Needs no FUSE and no running systemd.
set -u

: "${DINEMICFS:?DINEMICFS must name the daemon binary}"
: "${MESON_BUILD_ROOT:?MESON_BUILD_ROOT must name the build directory}"
: "${MESON_SOURCE_ROOT:?MESON_SOURCE_ROOT must name the source directory}"

. "$(dirname "$0")/../checks.sh"
command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
command -v systemd-escape >/dev/null || skip "no systemd-escape"

T=$(mktemp -d /tmp/dfs-systemd.XXXXXX)
trap 'rm -rf "$T"' EXIT

service=$MESON_BUILD_ROOT/contrib/dinemicfs@.service	# configured: @bindir@ filled in
watch=$MESON_SOURCE_ROOT/contrib/systemd/dinemicfs-watch@
[ -f "$service" ] || { echo "FAIL: $service was not configured"; exit 1; }

# verify checks that ExecStart= names an executable: point it at the
# binary under test rather than the install location.
U=$T/units
mkdir -p "$U"
bin=$(grep -m 1 '^ExecStart=' "$service" | sed 's/^ExecStart=//; s/ .*//')
check_eq "ExecStart names the installed binary" "${bin##*/}" dinemicfs
sed "s|^ExecStart=$bin |ExecStart=$(realpath "$DINEMICFS") |" "$service" >"$U/dinemicfs@test.service"
field=$(systemd-escape --path /srv/dinemicfs/test/Person/bob/salary)
cp "${watch}.path" "$U/dinemicfs-watch@$field.path"
cp "${watch}.service" "$U/dinemicfs-watch@$field.service"

# Every message counts: verify reports unknown keys and bad values on
# stderr and still exits 0.
out=$(cd "$U" && systemd-analyze verify --man=no ./*.service ./*.path 2>&1)
rc=$?
check_eq "systemd-analyze verify exit status" "$rc" 0
if [ -z "$out" ]; then pass; else
  fail "systemd-analyze verify says: $(printf '%s\n' "$out" | head -n 10)"
fi

# The watch starts the service of its own instance, on the instance's path.
check_eq "the watch runs the service of its instance" \
  "$(grep -c '^Unit=' "${watch}.path")" 0
check_eq "PathChanged= is the instance's path" "$(grep '^PathChanged=' "${watch}.path")" \
  "PathChanged=%f"

# A unit that names a missing binary fails verify: the check above can fail.
sed "s|^ExecStart=[^ ]* |ExecStart=$T/missing/dinemicfs |" "$service" >"$T/bad@test.service"
if (cd "$T" && systemd-analyze verify --man=no ./bad@test.service) >/dev/null 2>&1; then
  fail "systemd-analyze verify accepted a unit whose ExecStart= binary is missing"
else
  pass
fi

# No option that would give the service its own mount namespace: the mount
# would then be invisible to the host (see the unit's comments).
for key in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts ReadWritePaths \
    ReadOnlyPaths InaccessiblePaths BindPaths BindReadOnlyPaths TemporaryFileSystem \
    ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectControlGroups \
    ProtectProc ProcSubset MountFlags RootDirectory RootImage DynamicUser; do
  if grep -q "^$key=" "$service"; then
    fail "dinemicfs@.service sets $key=, which hides its mount from the host"
  else
    pass
  fi
done
for key in NoNewPrivileges CapabilityBoundingSet DeviceAllow Restart; do
  if grep -q "^$key=" "$service"; then pass; else fail "dinemicfs@.service lacks $key="; fi
done

# For information: systemd's own rating of the hardening (lower is better).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
  score=$(cd "$U" && systemd-analyze security --offline=yes --no-pager ./dinemicfs@test.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  echo "systemd-analyze security: exposure ${score:-unknown} (of 10)"
fi
finish
