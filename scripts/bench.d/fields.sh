# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/fields.sh - the cells (one fieldbench run each) and their interleaved
# rounds; run_fields measures dinemicfs field writes and reads against memfs,
# tmpfs and the fdatasync floor. Sourced by scripts/bench.

# ---- cells ---------------------------------------------------------------------

# Each cell: id, fieldbench mode, directory, threads, and the dinemicfs (by
# start_dfs NAME) it needs; cell_more holds more fieldbench arguments.
cells=()
declare -A cell_mode=() cell_dir=() cell_threads=() cell_dfs=() cell_more=() results=() fails=()
cell() {
  cells+=("$1")
  cell_mode[$1]=$2
  cell_dir[$1]=$3
  cell_threads[$1]=$4
  cell_dfs[$1]=${5:-}
}
# A LevelDB put with sync set, of about what one field write of the daemon
# adds to its store's log (some 970 bytes), into a store beside the state dirs.
ldb_record=950
for t in 1 8; do
  cell "w$t.strict" write "$work/strict/B/w" "$t" strict
  cell "w$t.relaxed" write "$work/relaxed/B/w" "$t" relaxed
  cell "w$t.memfs" write "$work/memfs" "$t"
  cell "w$t.memfs0" write "$work/memfs0" "$t"
  cell "w$t.tmpfs" write "$shm" "$t"
  cell "w$t.fsync" fsync "$work/disk" "$t"
  cell "r$t.dfs" read "$work/strict/B/r" "$t" strict
  cell "r$t.memfs" read "$work/memfs" "$t"
  cell "r$t.memfs0" read "$work/memfs0" "$t"
  cell "r$t.tmpfs" read "$shm" "$t"
done
cell "w1.ldbput" ldbput "$work/ldbput" 1
cell_more[w1.ldbput]=$ldb_record
# Listeners (sync=relaxed so that their cost is not hidden behind the disk):
# model L has a /bin/true before-listener, model Z a /bin/true after-listener;
# spawn1 is their floor, true started with posix_spawn and waited for, in a loop.
cell "spawn1" spawn "$(type -P true)" 1
cell "l1.before" write "$work/relaxed/L/w" 1 relaxed
cell "l1.after" write "$work/relaxed/Z/w" 1 relaxed
field_cells=("${cells[@]}")

# One fieldbench run; a dinemicfs that died during it is remounted and the run
# repeated once, so that a crash costs a round only when it happens twice.
run_cell() {
  local id=$1 out dfs=${cell_dfs[$1]}

  for _ in 1 2; do
    [[ -n $dfs ]] && revive_dfs "$dfs"
    # shellcheck disable=SC2086 # cell_more is a list of words
    out=$("$FB" "${cell_mode[$id]}" "${cell_dir[$id]}" "${cell_threads[$id]}" "$secs" \
      ${cell_more[$id]:-} 2>>"$work/fieldbench.log")
    if [[ $? -eq 0 && $out =~ ^[0-9]+$ ]]; then
      results[$id]+=" $out"
      printf '%s=%s ' "$id" "$out" >&2
      return 0
    fi
    fails[$id]=$((${fails[$id]:-0} + 1))
    printf '%s=failed (%s) ' "$id" "$(tail -n 1 "$work/fieldbench.log")" >&2
    [[ -n $dfs ]] || return 1
  done
  return 1
}

# run_rounds WHAT ID...: $rounds rounds of the cells ID..., interleaved, then
# each cell's median in med.
declare -A med=()
run_rounds() {
  local what=$1 r id

  shift
  progress "$what: $rounds rounds x $# cells x $secs s, interleaved"
  for ((r = 1; r <= rounds; r++)); do
    printf 'bench: %s round %d/%d: ' "$what" "$r" "$rounds" >&2
    for id in "$@"; do
      run_cell "$id"
    done
    echo >&2
  done
  for id in "$@"; do
    # shellcheck disable=SC2086 # the list is space-separated numbers
    med[$id]=$(median ${results[$id]:-})
  done
}

# The field cells: dinemicfs sync=strict and relaxed, memfs, tmpfs, fdatasync,
# LevelDB synced puts.
run_fields() {
  mkdir -p "$work/disk"
  start_dfs strict strict
  start_dfs relaxed relaxed
  # memfs served as the daemon is (threads, default_permissions, direct_io,
  # flush and noflush: see memfs.c), and memfs with its first settings.
  start_memfs memfs --like-daemon
  start_memfs memfs0
  for fs in strict relaxed; do
    for d in ${dfs_dirs[$fs]}; do
      mkdir -p "$work/$fs/$d" || die "cannot create an object in $work/$fs"
    done
  done
  mkdir -p "$work/relaxed/.actions/L" "$work/relaxed/.actions/Z"
  cp "$(type -P true)" "$work/relaxed/.actions/L/on_update" || die "cannot install a listener"
  cp "$(type -P true)" "$work/relaxed/.actions/Z/on_updated" || die "cannot install a listener"

  run_rounds fields "${field_cells[@]}"
  for fs in strict relaxed; do
    revive_dfs "$fs" count-only
  done
  fields_done=1
}
