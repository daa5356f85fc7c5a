# SPDX-License-Identifier: MIT
# manpage.sh - dinemicfs(1) stays in step with the program: the -o options of
# `dinemicfs --help` and of the man page source are the same set, every hook
# and listener variable the runner knows is documented, and the built page
# renders without warnings. Needs no FUSE.
set -u

: "${DINEMICFS:?DINEMICFS must name the daemon binary}"
: "${MESON_SOURCE_ROOT:?MESON_SOURCE_ROOT must name the source directory}"
SRC=$MESON_SOURCE_ROOT/src/man/dinemicfs.1.scd
PAGE=${DINEMICFS_MAN:-}	# the built page; empty when scdoc was missing

FAILS=0
CHECKS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { CHECKS=$((CHECKS + 1)); }
finish() { echo "$CHECKS passed, $FAILS failed"; [ "$FAILS" -eq 0 ]; exit $?; }

# option_names: "-o NAME" for every lowercase option name on stdin, sorted
# (placeholders such as -o OPT[,OPT...] are upper case; scdoc's \_ escapes go)
option_names() {
  tr -d '\\' | grep -oE -- '-o [a-z][a-z0-9_]*' | LC_ALL=C sort -u
}

help=$("$DINEMICFS" --help) || fail "dinemicfs --help exits $?"
in_help=$(printf '%s\n' "$help" | option_names)
in_man=$(option_names <"$SRC")
[ -n "$in_help" ] || fail "no -o option found in dinemicfs --help"
only_help=$(LC_ALL=C comm -23 <(printf '%s\n' "$in_help") <(printf '%s\n' "$in_man"))
only_man=$(LC_ALL=C comm -13 <(printf '%s\n' "$in_help") <(printf '%s\n' "$in_man"))
if [ -z "$only_help" ]; then pass; else
  fail "in dinemicfs --help but not in dinemicfs(1) (src/man/dinemicfs.1.scd):" $only_help
fi
if [ -z "$only_man" ]; then pass; else
  fail "in dinemicfs(1) (src/man/dinemicfs.1.scd) but not in dinemicfs --help:" $only_man
fi
echo "options in both: $(printf '%s\n' "$in_help" | sed 's/^-o //' | tr '\n' ' ')"

# each option has its own entry in the man page (a line starting with it)
for o in $(printf '%s\n' "$in_man" | sed 's/^-o //'); do
  if tr -d '\\' <"$SRC" | grep -qE -- "^\*(-d\*, \*)?-o $o[*=]"; then pass; else
    fail "dinemicfs(1) has no entry (a line '*-o $o*...') for -o $o"
  fi
done

# the subcommands --help names are in the SYNOPSIS
for cmd in key status try wait; do
  if printf '%s\n' "$help" | grep -q "dinemicfs $cmd \|/dinemicfs $cmd "; then
    if grep -q "^\*dinemicfs $cmd\*" "$SRC"; then pass; else
      fail "dinemicfs $cmd is in --help but not in the SYNOPSIS of dinemicfs(1)"
    fi
  fi
done

# every hook name and DINEMIC_ variable of the listener runner is documented
runner=$MESON_SOURCE_ROOT/src/actions
hooks=$(cat "$runner"/*.c | grep -oE '"on_[a-z_]+"' | tr -d '"' | LC_ALL=C sort -u)
vars=$(cat "$runner"/*.c | grep -oE '"DINEMIC_[A-Z_]+"' | tr -d '"' | LC_ALL=C sort -u)
[ "$(printf '%s\n' "$hooks" | wc -l)" -ge 23 ] || fail "found only $(printf '%s\n' "$hooks" | wc -l) hooks in $runner"
[ -n "$vars" ] || fail "found no DINEMIC_ variable in $runner"
for w in $hooks $vars; do
  if tr -d '\\' <"$SRC" | grep -qw -- "$w"; then pass; else
    fail "$w (from src/actions/) is not in dinemicfs(1)"
  fi
done

# the built page renders cleanly
if [ -z "$PAGE" ]; then
  echo "note: the man page was not built (no scdoc); rendering not checked"
  finish
fi
if [ ! -s "$PAGE" ]; then
  fail "the built man page $PAGE is missing or empty"
  finish
fi
if [ "$PAGE" -ot "$SRC" ]; then
  fail "$PAGE is older than its source"
fi
rendered=0
if command -v mandoc >/dev/null; then
  out=$(mandoc -T lint -W warning "$PAGE" 2>&1)
  if [ -z "$out" ]; then pass; else fail "mandoc -T lint: $(printf '%s\n' "$out" | head -n 5)"; fi
  rendered=1
fi
if command -v groff >/dev/null; then
  out=$(groff -man -Tutf8 -ww -z "$PAGE" 2>&1)
  if [ -z "$out" ]; then pass; else fail "groff -man -ww: $(printf '%s\n' "$out" | head -n 5)"; fi
  rendered=1
fi
if command -v man >/dev/null; then
  err=$(mktemp /tmp/dfs-man.XXXXXX)
  text=$(MANWIDTH=80 man -l "$PAGE" 2>"$err" </dev/null | col -b)
  if [ -s "$err" ]; then fail "man -l: $(head -n 5 "$err")"; else pass; fi
  rm -f "$err"
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS "THE TREE" LISTENERS COMMANDS \
      "EXIT STATUS" FILES FSTAB SYSTEMD EXAMPLES "SEE ALSO"; do
    if printf '%s\n' "$text" | grep -qx "$section"; then pass; else
      fail "man -l shows no $section section"
    fi
  done
  for o in $(printf '%s\n' "$in_man" | sed 's/^-o //'); do
    if printf '%s\n' "$text" | grep -q -- "-o $o"; then pass; else
      fail "man -l does not show -o $o"
    fi
  done
  rendered=1
fi
# the NAME line is what apropos(1) and whatis(1) index
if command -v lexgrog >/dev/null; then
  out=$(lexgrog "$PAGE" 2>&1)
  if [[ "$out" == *'"dinemicfs - '* ]]; then pass; else fail "lexgrog: $out"; fi
fi
[ $rendered -eq 1 ] || echo "note: no mandoc, groff or man; rendering not checked"
finish
