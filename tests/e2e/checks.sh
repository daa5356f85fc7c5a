# SPDX-License-Identifier: MIT
# checks.sh - the tally of an end-to-end case: checks that pass or fail, and
# finish. Sourced by lib.sh, and alone by cases that mount nothing.

FAILS=0
CHECKS=0

skip() { echo "SKIP: $*"; exit 77; }

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { CHECKS=$((CHECKS + 1)); }

# check_eq WHAT GOT WANT
check_eq() {
  if [ "$2" == "$3" ]; then pass; else fail "$1: got [$2], want [$3]"; fi
}

# check_file WHAT PATH WANT: the file's exact content (printf %s WANT)
check_file() {
  local got
  got=$(cat "$2" 2>&1; printf x)
  got=${got%x}
  check_eq "$1" "$got" "$3"
}

# check_fails WHAT MESSAGE CMD...: CMD must fail and print MESSAGE (strerror text)
check_fails() {
  local what=$1 msg=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then
    fail "$what: succeeded, wanted failure with '$msg'"
  elif [[ "$out" != *"$msg"* ]]; then
    fail "$what: failed with [$out], wanted '$msg'"
  else
    pass
  fi
}

# check_ok WHAT CMD...: CMD must succeed
check_ok() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then pass; else fail "$what: [$out]"; fi
}

# finish: prints the case's tally; exit status 1 on any failure
finish() {
  echo "$CHECKS passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
  exit $?
}
