# SPDX-License-Identifier: MIT
# install.sh - meson install: the binary, the man page, the systemd units and
# the example listeners land under DESTDIR/PREFIX with the right modes, and
# nothing is written outside DESTDIR. Needs no FUSE.
#
# Two installs: the build this test belongs to (MESON_BUILD_ROOT, whatever
# its prefix), and a fresh build configured like a Debian package
# (--prefix=/usr), which builds only what is installed.
set -u

: "${MESON_BUILD_ROOT:?MESON_BUILD_ROOT must name the build directory}"
: "${MESON_SOURCE_ROOT:?MESON_SOURCE_ROOT must name the source directory}"

. "$(dirname "$0")/../checks.sh"
command -v meson >/dev/null || skip "no meson"
command -v python3 >/dev/null || skip "no python3"

T=$(mktemp -d /tmp/dfs-install.XXXXXX)
trap 'rm -rf "$T"' EXIT

# Everything is older than this; a file outside DESTDIR newer than it,
# at a path we install to, was written by the install.
touch "$T/stamp"
sleep 1

# installed_files DESTDIR: every file and symlink under DESTDIR as "MODE /PATH"
installed_files() {
  (cd "$1" && find . ! -type d -printf '%m /%P\n') | LC_ALL=C sort -k2
}

# check_inside DESTDIR LOG WHAT: every "Installing X to Y" line of the
# install's output names a Y under DESTDIR, and the real paths of the files
# installed were not touched.
check_inside() {
  local dest=$1 log=$2 what=$3 to mode path n=0
  while read -r to; do
    n=$((n + 1))
    case "$to" in
    "$dest"/*) pass ;;
    *) fail "$what: installed to $to, outside DESTDIR $dest" ;;
    esac
  done < <(sed -n 's/^Installing .* to //p' "$log")
  [ "$n" -gt 0 ] || fail "$what: the install printed no 'Installing ... to' line"
  while read -r mode path; do
    if [ -e "$path" ] && [ "$path" -nt "$T/stamp" ]; then
      fail "$what: $path was written outside DESTDIR"
    else
      pass
    fi
  done < <(installed_files "$dest")
}

# --- the build under test, with its own prefix --------------------------------
opts=$(meson introspect "$MESON_BUILD_ROOT" --buildoptions) || {
  echo "FAIL: meson introspect $MESON_BUILD_ROOT"
  exit 1
}
opt() { # NAME: a build option's value
  printf '%s' "$opts" | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o["name"] == sys.argv[1]:
        print(o["value"])' "$1"
}
prefix=$(opt prefix)
bindir=$(opt bindir)
case "$bindir" in /*) ;; *) bindir=$prefix/$bindir ;; esac

if meson install -C "$MESON_BUILD_ROOT" --no-rebuild --destdir "$T/d1" >"$T/d1.log" 2>&1; then
  pass
else
  fail "meson install --destdir in $MESON_BUILD_ROOT: $(tail -n 5 "$T/d1.log")"
fi
check_inside "$T/d1" "$T/d1.log" "install of the build under test"
check_eq "binary in DESTDIR$bindir" "$(stat -c %a "$T/d1$bindir/dinemicfs" 2>&1)" 755
# what meson says it installs is exactly what is in DESTDIR
want=$(meson introspect "$MESON_BUILD_ROOT" --installed | python3 -c '
import json, sys
for dest in sorted(json.load(sys.stdin).values()):
    print(dest)' | LC_ALL=C sort)
got=$(installed_files "$T/d1" | cut -d' ' -f2- | LC_ALL=C sort)
check_eq "files in DESTDIR = meson introspect --installed" "$got" "$want"

# --- a fresh build with --prefix=/usr, as a Debian package ---------------------
B=$T/build
if ! meson setup --prefix=/usr -Dtests=disabled -De2e=disabled -Dfuzz=disabled \
    "$B" "$MESON_SOURCE_ROOT" >"$T/setup.log" 2>&1; then
  echo "FAIL: meson setup --prefix=/usr: $(tail -n 5 "$T/setup.log")"
  exit 1
fi
# (leveldb's CMake files warn about their own dependencies: not ours)
if grep '^WARNING' "$T/setup.log" | grep -qv 'CMake'; then
  fail "meson setup warns: $(grep '^WARNING' "$T/setup.log" | grep -v CMake | head -n 3 | tr '\n' ' ')"
fi
# only what is installed: the binary and the man page (the units are
# configured at setup)
targets=(src/dinemicfs)
have_man=0
if meson introspect "$B" --installed | grep -q 'man1/dinemicfs.1'; then
  targets+=(src/man/dinemicfs.1)
  have_man=1
fi
if ! ninja -C "$B" "${targets[@]}" >"$T/ninja.log" 2>&1; then
  echo "FAIL: ninja ${targets[*]}: $(tail -n 5 "$T/ninja.log")"
  exit 1
fi
D=$T/dest
if DESTDIR=$D meson install -C "$B" --no-rebuild >"$T/install.log" 2>&1; then
  pass
else
  fail "DESTDIR=... meson install: $(tail -n 5 "$T/install.log")"
fi
check_inside "$D" "$T/install.log" "install with --prefix=/usr"

doc=/usr/share/doc/dinemicfs/examples
units=/usr/lib/systemd/system
want="755 /usr/bin/dinemicfs
644 $units/dinemicfs-watch@.path
644 $units/dinemicfs-watch@.service
644 $units/dinemicfs@.service
755 $doc/actions/on_update.00-strict-owner
755 $doc/actions/on_update.10-range
755 $doc/actions/on_updated.50-audit
755 $doc/actions/on_updated.90-notify
644 $doc/systemd/dinemicfs.conf"
if [ $have_man -eq 1 ]; then
  want+=$'\n'"644 /usr/share/man/man1/dinemicfs.1"
else
  echo "note: no scdoc, so no man page to install"
fi
want=$(printf '%s\n' "$want" | LC_ALL=C sort -k2)
check_eq "the layout of a --prefix=/usr install (mode path)" "$(installed_files "$D")" "$want"
# directories are searchable by all
bad=$(cd "$D" && find . -type d ! -perm -0755 -printf '/%P ')
check_eq "directories 0755" "$bad" ""

# the unit runs the installed binary
check_eq "ExecStart of dinemicfs@.service" \
  "$(grep '^ExecStart=' "$D$units/dinemicfs@.service" | cut -d' ' -f1)" \
  "ExecStart=/usr/bin/dinemicfs"
check_eq "no @variable@ left in the unit" "$(grep -c '@[a-z_]*@' "$D$units/dinemicfs@.service")" 0
# the installed binary runs, and the installed listeners are the shipped ones
check_eq "installed binary runs" "$("$D/usr/bin/dinemicfs" --version | head -n 1 | cut -d' ' -f1)" \
  dinemicfs
for f in "$MESON_SOURCE_ROOT"/contrib/actions/*; do
  if cmp -s "$f" "$D$doc/actions/${f##*/}"; then pass; else fail "example ${f##*/} differs"; fi
done
if [ $have_man -eq 1 ]; then
  check_eq "man page title" "$(grep -m 1 '^\.TH' "$D/usr/share/man/man1/dinemicfs.1" | cut -d' ' -f2-3)" \
    '"dinemicfs" "1"'
fi

# -Dsystemdunitdir= puts the units elsewhere (Debian 12 packages use /lib)
if meson configure "$B" -Dsystemdunitdir=/lib/systemd/system >"$T/conf.log" 2>&1 &&
   ninja -C "$B" "${targets[@]}" >>"$T/conf.log" 2>&1 &&
   meson install -C "$B" --no-rebuild --destdir "$T/dest2" >"$T/install2.log" 2>&1; then
  pass
else
  fail "meson install with -Dsystemdunitdir=/lib/systemd/system: $(tail -n 5 "$T/conf.log" "$T/install2.log")"
fi
check_inside "$T/dest2" "$T/install2.log" "install with -Dsystemdunitdir"
check_eq "units in /lib/systemd/system" \
  "$(cd "$T/dest2" && find lib -type f -printf '%m %P\n' 2>/dev/null | LC_ALL=C sort)" \
  "644 systemd/system/dinemicfs-watch@.path
644 systemd/system/dinemicfs-watch@.service
644 systemd/system/dinemicfs@.service"
check_eq "no units under /usr/lib then" "$(find "$T/dest2/usr/lib" -type f 2>/dev/null | wc -l)" 0

# Without scdoc: -Dman=enabled fails at setup and says why; auto goes on
# without the page. The PATH is /usr/bin minus scdoc.
if [ $have_man -eq 1 ] && [ -x /usr/bin/scdoc ]; then
  mkdir -p "$T/nobin"
  for f in /usr/bin/*; do
    [ "${f##*/}" == scdoc ] || ln -s "$f" "$T/nobin/"
  done
  noscdoc() { PATH=$T/nobin:/usr/sbin:/sbin "$@"; }
  out=$(noscdoc meson setup -Dman=enabled -Dtests=disabled -De2e=disabled -Dfuzz=disabled \
    "$T/noman1" "$MESON_SOURCE_ROOT" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && [[ "$out" == *"scdoc, which is missing"* ]]; then
    pass
  else
    fail "-Dman=enabled without scdoc: status $rc, output: $(printf '%s\n' "$out" | tail -n 3)"
  fi
  if noscdoc meson setup -Dtests=disabled -De2e=disabled -Dfuzz=disabled \
      "$T/noman2" "$MESON_SOURCE_ROOT" >"$T/noman.log" 2>&1; then
    check_eq "-Dman=auto without scdoc installs no man page" \
      "$(meson introspect "$T/noman2" --installed | grep -c man1)" 0
  else
    fail "-Dman=auto without scdoc: $(tail -n 3 "$T/noman.log")"
  fi
fi
finish
