# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/crypt.sh - encrypted fields against plain ones on one node, and the
# data-key rotations. Sourced by scripts/bench.

# ---- encrypted fields ----------------------------------------------------------

# Encrypted fields, on their own sync=relaxed mount (so that the disk does not
# hide their cost): model E lists f0..f999 in .encrypted, model P lists none.
crypt_cells=()
for t in 1 8; do
  for c in "w$t.cplain write P/w" "w$t.csealed write E/w" "r$t.cplain read P/r" \
    "r$t.csealed read E/r"; do
    read -r id mode dir <<<"$c"
    cell "$id" "$mode" "$work/crypt/$dir" "$t" crypt
    crypt_cells+=("$id")
  done
done
dfs_dirs[crypt]="E/w E/r P/w P/r"


# One sync=relaxed node (see the crypt cells above). Model E lists f0..f999 in
# .encrypted, model P lists none. E/o0 and P/o0 get 1,000 fields each and the
# same 20 readers R/r1..R/r20 in .authorized. A rotation is one write(2) of
# E/o0/.authorized without one reader: a new data key, and every earlier one
# re-sealed to the readers left. Adding it back re-seals without a new key.
# The same rewrites of P/o0/.authorized, which has no keys, are the baseline.

# holds FILE FORMAT [ARG...]: FILE reads back exactly what printf FORMAT ARG... prints.
holds() {
  local got want

  got=$(cat -- "$1" 2>>"$work/crypt.log" && printf x) || return 1
  # shellcheck disable=SC2059 # the format is the caller's
  want=$(printf "${@:2}" && printf x)
  [[ $got == "$want" ]]
}

# fb_value FILE: FILE holds one of fieldbench's values (31 digits and a newline).
fb_value() {
  local got re=$'^[0-9]{31}\nx$'

  got=$(cat -- "$1" 2>>"$work/crypt.log" && printf x) || return 1
  [[ $got =~ $re ]]
}

# lines FILE: its number of lines (empty if it cannot be read).
lines() {
  local n

  n=$(wc -l <"$1" 2>>"$work/crypt.log") && printf '%s\n' "$n"
}

# put_ms FILE LINE...: FILE rewritten with the LINEs in one write(2) (a shell's
# printf would write, and commit, one line at a time); prints the milliseconds
# of that write and the close.
put_ms() {
  local v

  v=$(printf '%s\n' "${@:2}" | "$FB" put "$1" 2>>"$work/fieldbench.log") || return 1
  [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] && printf '%s\n' "$v"
}

# crypt_fail TEXT: notes why (part of) the section stopped; returns 1.
crypt_notes=()
crypt_fail() {
  crypt_notes+=("$1")
  progress "encrypted fields: $1"
  return 1
}

# The models, the cells' objects, the readers, and a check that an encrypted
# value does not reach the disk in clear where a plain one does.
crypt_setup() {
  local m=$work/crypt d i tag

  start_dfs crypt relaxed
  mkdir "$m/E" "$m/P" "$m/R" || crypt_fail "cannot create the models E, P and R" || return
  # shellcheck disable=SC2046 # f0 .. f999, one a line
  printf 'f%d\n' $(seq 0 999) | "$FB" put "$m/E/.encrypted" >/dev/null \
    2>>"$work/fieldbench.log" ||
    crypt_fail "cannot write E/.encrypted: $(tail -n 1 "$work/fieldbench.log")" || return
  i=$(lines "$m/E/.encrypted")
  [[ $i == 1000 ]] || crypt_fail "E/.encrypted lists '$i' fields, not 1000" || return
  for d in ${dfs_dirs[crypt]} E/m P/m; do
    mkdir "$m/$d" || crypt_fail "cannot create the object $d" || return
  done
  for ((i = 1; i <= 20; i++)); do
    mkdir "$m/R/r$i" || crypt_fail "cannot create the reader R/r$i" || return
  done
  tag=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  if ! printf 'clear-%s-plain\n' "$tag" >"$m/P/m/f0" ||
    ! printf 'clear-%s-sealed\n' "$tag" >"$m/E/m/f0"; then
    crypt_fail "cannot write E/m/f0 or P/m/f0" || return
  fi
  holds "$m/E/m/f0" 'clear-%s-sealed\n' "$tag" ||
    crypt_fail "E/m/f0 does not read back what was written" || return
  if grep -rqaF "clear-$tag-sealed" "$work/crypt.state"; then
    crypt_fail "the clear value of the encrypted field E/m/f0 is in the state dir" || return
  elif ! grep -rqaF "clear-$tag-plain" "$work/crypt.state"; then
    crypt_notes+=("not checked: no clear value in the state dir (the plain one is not found \
either)")
  fi
}

# After the cells: the values they left read back (E/r's must be opened to do so).
crypt_check_cells() {
  local m=$work/crypt o t

  for o in E P; do
    for ((t = 0; t < 8; t++)); do
      if ! holds "$m/$o/r/f$t" '%031d\n' 0 || ! fb_value "$m/$o/w/f$t"; then
        crypt_fail "$o/r/f$t or $o/w/f$t does not read back a value fieldbench wrote"
        return
      fi
    done
  done
}

# The rotations: $crypt_rotations times, remove a reader from E/o0 and P/o0,
# then add it back to both.
crypt_rotate() {
  local m=$work/crypt i o r v n gone readers=() rest=() h0=()

  progress "encrypted fields: 1,000 fields each in E/o0 (encrypted) and P/o0 (plain)"
  for o in E P; do
    "$FB" fill "$m/$o" 1 1000 1 >/dev/null 2>>"$work/fieldbench.log" ||
      crypt_fail "the fill of $o/o0 failed: $(tail -n 1 "$work/fieldbench.log")" ||
      return
  done
  if ! holds "$m/E/o0/f7" '%031d\n' 7 || ! holds "$m/E/o0/f999" '%031d\n' 999; then
    crypt_fail "E/o0/f7 or E/o0/f999 does not read back what was written"
    return
  fi
  for ((i = 1; i <= 20; i++)); do
    readers+=("R/r$i")
  done
  for o in E P; do
    put_ms "$m/$o/o0/.authorized" "${readers[@]}" >/dev/null ||
      crypt_fail "cannot list 20 readers in $o/o0/.authorized: \
$(tail -n 1 "$work/fieldbench.log")" || return
    n=$(lines "$m/$o/o0/.authorized")
    [[ $n == 20 ]] || crypt_fail "$o/o0/.authorized lists '$n' readers, not 20" || return
    h0+=("$(lines "$m/$o/o0/.history")")
  done
  progress "encrypted fields: $crypt_rotations x (remove a reader, add it back) on E/o0, \
interleaved with the same on P/o0"
  for ((i = 0; i < crypt_rotations; i++)); do
    gone=${readers[i % 20]}
    rest=()
    for r in "${readers[@]}"; do
      [[ $r == "$gone" ]] || rest+=("$r")
    done
    for o in E P; do
      v=$(put_ms "$m/$o/o0/.authorized" "${rest[@]}") ||
        crypt_fail "removing $gone from $o/o0/.authorized failed: \
$(tail -n 1 "$work/fieldbench.log")" || return
      results[rot.$o.remove]+=" $v"
    done
    n=$(lines "$m/E/o0/.authorized")
    [[ $n == 19 ]] || crypt_fail "E/o0/.authorized lists '$n' readers after a removal" ||
      return
    for o in E P; do
      v=$(put_ms "$m/$o/o0/.authorized" "${readers[@]}") ||
        crypt_fail "adding $gone back to $o/o0/.authorized failed: \
$(tail -n 1 "$work/fieldbench.log")" || return
      results[rot.$o.add]+=" $v"
    done
  done
  # Each rewrite is one update of .authorized, plus one keyset where there are keys.
  n=$(($(lines "$m/E/o0/.history") - h0[0]))
  ((n == 4 * crypt_rotations)) || crypt_notes+=("E/o0/.history grew by $n lines in \
$((2 * crypt_rotations)) rewrites of .authorized, not $((4 * crypt_rotations))")
  n=$(($(lines "$m/P/o0/.history") - h0[1]))
  ((n == 2 * crypt_rotations)) || crypt_notes+=("P/o0/.history grew by $n lines in \
$((2 * crypt_rotations)) rewrites of .authorized, not $((2 * crypt_rotations))")
  # What was sealed under the first key still opens; a new value is sealed under the last.
  holds "$m/E/o0/f7" '%031d\n' 7 ||
    crypt_fail "E/o0/f7 does not read back after the rotations" || return
  if ! printf '%031d\n' 1000000 >"$m/E/o0/f0" || ! holds "$m/E/o0/f0" '%031d\n' 1000000; then
    crypt_fail "E/o0/f0 does not read back a value written after the rotations"
  fi
}

# The crypt cells, their check, and the rotations.
run_crypt() {
  for m in "$work/strict" "$work/relaxed" "$work/memfs" "$work/memfs0"; do
    [[ -n ${mnt_pid[$m]+x} ]] && stop_mount "$m"
  done
  if crypt_setup; then
    run_rounds "encrypted fields" "${crypt_cells[@]}"
    revive_dfs crypt
    if ! crypt_check_cells; then
      for id in "${crypt_cells[@]}"; do
        unset "med[$id]"
      done
    fi
    crypt_rotate
    for id in rot.E.remove rot.E.add rot.P.remove rot.P.add; do
      # shellcheck disable=SC2086 # the list is space-separated numbers
      med[$id]=$(median ${results[$id]:-})
    done
    revive_dfs crypt count-only
  fi
  stop_mount "$work/crypt"
  crypt_done=1
}
