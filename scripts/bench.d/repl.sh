# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/repl.sh - replication between nodes on 127.0.0.1: propagation
# latency, replicated writes/s, a fresh node's catch-up. Sourced by scripts/bench.

# ---- replication ---------------------------------------------------------------

# Nodes on 127.0.0.1, all sync=relaxed, over TLS (the default): A <- B <- C
# (B has peer=A, C has peer=B); later, for each of two logs (spread and hot)
# a node of its own, and fresh nodes D with it as their peer, over TLS and
# over plain ws:// (the source restarted with -o unencrypted_links), three
# each, taking turns.
# Every one is a start_dfs mount, so cleanup stops it by PID like the others.


# Notes the death of any of our replication nodes still registered.
repl_alive() {
  local n

  for n in "$@"; do
    [[ -n ${mnt_pid[$work/$n]+x} ]] || continue
    if ! ours "${mnt_pid[$work/$n]}" "$work/$n"; then
      crashes[$n]=$((${crashes[$n]:-0} + 1))
      progress "replication: dinemicfs ($n) died"
      return 1
    fi
  done
  return 0
}


repl_notes=()

# catch_up SRC tls|plain: SRC (restarted in that mode, listening on $pa)
# serves its whole log to a fresh D; sets cu_one (updates/s, empty when D
# did not finish), cu_got and cu_secs. Returns 1 when SRC or D died.
catch_up() {
  local src=$1 mode=$2 t0 plain="" scheme=wss
  [[ $mode == plain ]] && plain="unencrypted_links," scheme=ws
  cu_one=""
  stop_mount "$work/$src"
  start_dfs "$src" relaxed "" "${plain}listen=127.0.0.1:$pa"
  rm -rf "$work/repl_d.state"
  progress "replication: fresh node D <- $src over $mode, catching up on $cu_total updates"
  t0=$(usec)
  start_dfs repl_d relaxed "" "${plain}peer=$scheme://127.0.0.1:$pa"
  if wait_stored "$rd" "$cu_total" 150; then
    cu_got=$got
    cu_secs=$(secs_between "$t0" "$got_at")
    cu_one=$(awk -v n="$got" -v s="$cu_secs" 'BEGIN { if (s > 0) printf "%.0f", n / s }')
  else
    cu_got=$got
    repl_notes+=("catch-up of $src over $mode: D stopped at $got of $cu_total updates after \
$(secs_between "$t0" "$(usec)") s (no growth for $repl_stall s, or the 150 s cap)")
  fi
  repl_alive "$src" repl_d || return 1
  stop_mount "$rd"
}

# fill_log spread|hot: a fresh node cu_LOG (sync=relaxed) and its log, written
# by fieldbench for this run: spread, cu_objects objects x cu_fields fields,
# each written once; hot, cu_hot fields of one object rewritten in turn
# until they make repl_catchup writes. Sets cu_fill[LOG] (seconds, or
# "failed") and returns 1 when the node did not come up.
declare -A cu_fill=() cu_tls=() cu_plain=() cu_n=() cu_s=()
cu_hot=8
fill_log() {
  local log=$1 src=$work/cu_$1 t0 ok=1

  rm -rf "$work/cu_$log.state"
  start_dfs "cu_$log" relaxed "" "listen=127.0.0.1:$pa"
  t0=$(usec)
  if [[ $log == spread ]]; then
    progress "replication: spread log, $cu_objects objects x $cu_fields fields, each written once"
    mkdir -p "$src/K" && "$FB" fill "$src/K" "$cu_objects" "$cu_fields" 8 >/dev/null \
      2>>"$work/fieldbench.log" || ok=0
  else
    progress "replication: hot log, $cu_hot fields of one object, $repl_catchup writes"
    mkdir -p "$src/H/o" && "$FB" hot "$src/H/o" "$cu_hot" $((repl_catchup / cu_hot)) \
      >/dev/null 2>>"$work/fieldbench.log" || ok=0
  fi
  cu_fill[$log]=$(secs_between "$t0" "$(usec)")
  if ((!ok)); then
    cu_fill[$log]=failed
    repl_notes+=("the $log fill failed: $(tail -n 1 "$work/fieldbench.log")")
  fi
  repl_alive "cu_$log"
}

# Fresh nodes catch up on log (spread or hot), three times over TLS and
# three over plain ws://, taking turns; sets cu_tls, cu_plain, cu_n and cu_s
# (medians; cu_s: seconds to the last update over TLS).
catch_up_on() {
  local log=$1 tls_rates=() plain_rates=() tls_secs=() turn

  fill_log "$log" || return 1
  cu_total=$(stat_of "$work/cu_$log" updates_stored) || cu_total=""
  cu_n[$log]=$cu_total
  [[ $cu_total =~ ^[0-9]+$ ]] || return 1
  for turn in tls plain tls plain tls plain; do
    catch_up "cu_$log" "$turn" || break
    if [[ $turn == tls ]]; then
      tls_rates+=("$cu_one")
      [[ -n $cu_one ]] && tls_secs+=("$cu_secs")
    else
      plain_rates+=("$cu_one")
    fi
  done
  cu_tls[$log]=$(median "${tls_rates[@]}" | awk 'NF { printf "%.0f", $1 }')
  cu_plain[$log]=$(median "${plain_rates[@]}" | awk 'NF { printf "%.0f", $1 }')
  cu_s[$log]=$(median "${tls_secs[@]}")
  [[ -z ${cu_tls[$log]} && -n $cu_got ]] && cu_tls[$log]=stuck
  stop_mount "$work/cu_$log"
}

# A <- B <- C, then D <- A; sets repl_done.
run_repl() {
  repl_t0=$(usec)
  for m in "$work/strict" "$work/relaxed" "$work/memfs" "$work/memfs0"; do
    [[ -n ${mnt_pid[$m]+x} ]] && stop_mount "$m"
  done
  pick_ports || die "replication: no three free ports on 127.0.0.1 from $repl_port"
  pa=$repl_port pb=$((repl_port + 1)) pc=$((repl_port + 2))
  ra=$work/repl_a rb=$work/repl_b rc=$work/repl_c rd=$work/repl_d
  progress "replication: A <- B <- C on 127.0.0.1:$pa,$pb,$pc (sync=relaxed)"
  start_dfs repl_a relaxed "" "listen=127.0.0.1:$pa"
  start_dfs repl_b relaxed "" "listen=127.0.0.1:$pb,peer=wss://127.0.0.1:$pa"
  start_dfs repl_c relaxed "" "listen=127.0.0.1:$pc,peer=wss://127.0.0.1:$pb"
  if ! wait_until 10 peers_up_at_least "$rb" 2 || ! wait_until 10 peers_up_at_least "$rc" 1; then
    die "replication: the links did not come up: $(cat "$rb/.node/peers" 2>&1)"
  fi

  # 1. Propagation latency: a write on A to the IN_CLOSE_WRITE on C, one at a
  # time; the floor is the same on one tmpfs directory.
  if ! mkdir -p "$ra/R/p" || ! printf 'start\n' >"$ra/R/p/lat"; then
    die "replication: cannot write on A"
  fi
  wait_until 10 test -f "$rc/R/p/lat" || die "replication: R/p/lat did not reach C"
  if ! mkdir -p "$shm/lat" || ! printf 'start\n' >"$shm/lat/lat"; then
    die "cannot write to $shm"
  fi
  progress "replication: $repl_writes writes, each waiting for its event (tmpfs, then A -> C)"
  lat_tmpfs=$("$PB" "$shm/lat/lat" "$shm/lat" "$repl_writes" 5000 2>>"$work/propbench.log")
  lat_repl=$("$PB" "$ra/R/p/lat" "$rc/R/p" "$repl_writes" 5000 2>>"$work/propbench.log") ||
    progress "replication: propbench failed: $(tail -n 1 "$work/propbench.log")"
  read -r l_p50 l_p99 l_max _ l_ev l_n <<<"${lat_repl:-}"
  read -r t_p50 t_p99 t_max _ <<<"${lat_tmpfs:-}"
  repl_alive repl_a repl_b repl_c

  # 2. Replicated writes/s: fieldbench writers on A for $secs s, then the time
  # until C has stored as many updates as A.
  mkdir -p "$ra/R/w" || die "replication: cannot create R/w on A"
  for ((r = 1; r <= rounds; r++)); do
    printf 'bench: replication round %d/%d: ' "$r" "$rounds" >&2
    for t in 1 8; do
      repl_alive repl_a repl_b repl_c || break 2
      a0=$(stat_of "$ra" updates_stored)
      t0=$(usec)
      out=$("$FB" write "$ra/R/w" "$t" "$secs" 2>>"$work/fieldbench.log")
      st=$?
      t1=$(usec)
      a1=$(stat_of "$ra" updates_stored)
      if ((st != 0)) || [[ ! $out =~ ^[0-9]+$ || ! $a0 =~ ^[0-9]+$ || ! $a1 =~ ^[0-9]+$ ]]; then
        fails[w$t.repl_a]=$((${fails[w$t.repl_a]:-0} + 1))
        printf 'w%s=failed (%s) ' "$t" "$(tail -n 1 "$work/fieldbench.log")" >&2
        continue
      fi
      results[w$t.repl_a]+=" $out"
      if wait_stored "$rc" "$a1" 60; then
        e2e=$(awk -v n=$((a1 - a0)) -v us=$((got_at - t0)) \
          'BEGIN { printf "%.0f", n * 1e6 / us }')
        results[w$t.repl_e2e]+=" $e2e"
        results[w$t.repl_lag]+=" $(secs_between "$t1" "$got_at")"
        printf 'w%s: A %s/s, on C %s/s ' "$t" "$out" "$e2e" >&2
      else
        fails[w$t.repl_e2e]=$((${fails[w$t.repl_e2e]:-0} + 1))
        repl_notes+=("round $r, $t writer(s): C stopped at $got of $a1 updates \
(A wrote $((a1 - a0)); gave up $(secs_between "$t1" "$(usec)") s after the writers stopped)")
        printf 'w%s: A %s/s, C stuck at %s of %s ' "$t" "$out" "$got" "$a1" >&2
      fi
    done
    echo >&2
  done
  for id in w1.repl_a w8.repl_a w1.repl_e2e w8.repl_e2e w1.repl_lag w8.repl_lag; do
    # shellcheck disable=SC2086 # the list is space-separated numbers
    med[$id]=$(median ${results[$id]:-})
  done
  repl_alive repl_a repl_b repl_c

  # 3. Catch-up: A, B and C stop (so that the fill and the catch-up have the
  # CPUs); a spread log and a hot log, each written for this run on a node
  # of its own, are fetched by fresh nodes D.
  stop_mount "$rc"
  stop_mount "$rb"
  stop_mount "$ra"
  cu_objects=1000
  cu_fields=$(((repl_catchup + cu_objects - 1) / cu_objects))
  for log in spread hot; do
    catch_up_on "$log"
  done
  repl_secs=$(secs_between "$repl_t0" "$(usec)")
  progress "replication: done in $repl_secs s"
  repl_done=1
}
