# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/memory.sh - the daemon's memory with a million fields, and a remount
# on that state. Sourced by scripts/bench.

# ---- memory --------------------------------------------------------------------

# A sample spread over objects and fields, read with cat.
sample() {
  local i o f

  for ((i = 0; i < mem_sample; i++)); do
    o=$(((i * 7919) % mem_objects))
    f=$(((i * 104729 + 13) % mem_fields))
    echo "$work/mem/M/o$o/f$f"
  done
}
sampled_bytes() {
  sample | xargs cat | wc -c
}

# Fills, samples, remounts; sets mem_done unless the fill failed.
run_memory() {
  for m in "$work/strict" "$work/relaxed" "$work/memfs" "$work/memfs0"; do
    stop_mount "$m"
  done
  nfields=$((mem_objects * mem_fields))
  progress "memory: filling $nfields fields ($mem_objects objects x $mem_fields) with sync=relaxed"
  start_dfs mem relaxed
  mkdir "$work/mem/M" || die "mkdir M failed"
  t0=$(date +%s.%N)
  fill_rate=$("$FB" fill "$work/mem/M" "$mem_objects" "$mem_fields" 8 2>>"$work/fieldbench.log")
  fill_ok=$?
  fill_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  if ((fill_ok != 0)); then
    progress "memory: fill failed after $fill_secs s: $(tail -n 1 "$work/fieldbench.log")"
    ours "${mnt_pid[$work/mem]}" "$work/mem" || crashes[mem]=$((${crashes[mem]:-0} + 1))
    stop_mount "$work/mem"
  else
    # Before any read: reads can crash this daemon (see the report).
    pid=${mnt_pid[$work/mem]}
    rss_fill=$(kib_of "$pid" VmRSS)
    anon_fill=$(kib_of "$pid" RssAnon)
    got=$(sampled_bytes 2>>"$work/cat.log")
    if ours "$pid" "$work/mem"; then
      rss_cat=$(kib_of "$pid" VmRSS)
      anon_cat=$(kib_of "$pid" RssAnon)
      hwm_cat=$(kib_of "$pid" VmHWM)
      [[ $got -eq $((mem_sample * 32)) ]] ||
        progress "memory: cat returned $got bytes, expected $((mem_sample * 32))"
    else
      rss_cat="" anon_cat="" hwm_cat=""
      crashes[mem]=$((${crashes[mem]:-0} + 1))
      progress "memory: dinemicfs died during the cat of the sample"
    fi

    # A fresh daemon on the same state: start-up cost and memory from cold.
    stop_mount "$work/mem"
    t0=$(date +%s.%N)
    start_dfs mem relaxed
    mount_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    rss_mount=$(kib_of "${mnt_pid[$work/mem]}" VmRSS)
    anon_mount=$(kib_of "${mnt_pid[$work/mem]}" RssAnon)
    rss_cold="" anon_cold=""
    for _ in 1 2 3; do
      pid=${mnt_pid[$work/mem]}
      got=$(sampled_bytes 2>>"$work/cat.log")
      if ours "$pid" "$work/mem"; then
        rss_cold=$(kib_of "$pid" VmRSS)
        anon_cold=$(kib_of "$pid" RssAnon)
        break
      fi
      crashes[mem]=$((${crashes[mem]:-0} + 1))
      progress "memory: dinemicfs died during the cat after a remount"
      stop_mount "$work/mem"
      start_dfs mem relaxed
    done
    disk_mib=$(du -sm "$work/mem.state" | awk '{ print $1 }')
    stop_mount "$work/mem"
    mem_done=1
  fi
}
