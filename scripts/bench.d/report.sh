# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/report.sh - the table: one block per section that ran, then the
# notes on failed runs and dead daemons. Sourced by scripts/bench.

# ---- table ---------------------------------------------------------------------

cellfmt() {
  local v=${med[$1]:-} f=${fails[$1]:-0}

  if [[ -z $v ]]; then
    printf '%11s' "failed"
  elif ((f > 0)); then
    printf '%10.0f*' "$v"
  else
    printf '%11.0f' "$v"
  fi
}

ratio() {
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b == 0) print ""; else printf "%.2f", a / b }'
}

row() {
  printf '  %-28s %s %s  %s\n' "$1" "$(cellfmt "w1.$2")" \
    "$(cellfmt "w8.$2")" "$(ratio "${med[w8.$2]:-}" "${med[w1.$2]:-}")"
}

rrow() {
  printf '  %-28s %s %s  %s\n' "$1" "$(cellfmt "r1.$2")" "$(cellfmt "r8.$2")" \
    "$(ratio "${med[r8.$2]:-}" "${med[r1.$2]:-}")"
}

# check LABEL VALUE OP TARGET
check() {
  local verdict

  if [[ -z $2 ]]; then
    verdict="n/a"
  elif awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN { exit !(op == ">=" ? v >= t : v < t) }'; then
    verdict=PASS
  else
    verdict=MISS
  fi
  printf '  %-44s %8s   %s %-6s %s\n' "$1" "${2:-n/a}" "$3" "$4" "$verdict"
}

# msfmt MS: milliseconds, or "failed" where there are none.
msfmt() {
  if [[ -z ${1:-} ]]; then
    printf '%8s' "failed"
  else
    printf '%8.2f' "$1"
  fi
}
# rotrow LABEL ID: the median, first and last of the repetitions (ms); the
# first and last show how the cost grows with the number of data keys.
rotrow() {
  local all=${results[$2]:-} first

  read -r first _ <<<"$all"
  printf '  %-44s %s %s %s\n' "$1" "$(msfmt "${med[$2]:-}")" "$(msfmt "$first")" \
    "$(msfmt "${all##* }")"
}

# latrow LABEL "p50 p99 max timeouts ..." (propbench's output, in ms)
latrow() {
  local p50 p99 max to

  read -r p50 p99 max to _ <<<"${2:-}"
  printf '  %-36s %8s %8s %8s %8s\n' "$1" "${p50:-failed}" "${p99:-}" "${max:-}" "${to:-}"
}
lagfmt() {
  if [[ -z ${med[$1]:-} ]]; then
    printf '%11s' "failed"
  else
    printf '%11.2f' "${med[$1]}"
  fi
}
factor_of() {
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b == 0) print ""
    else printf "%.0fx", a / b }'
}

# The most one durable writer could do: a FUSE write cycle (memfs served as
# the daemon) and a LevelDB synced put, one after the other:
# 1/(1/memfs + 1/put), writes/s.
strict_floor() {
  awk -v m="${med[w1.memfs]:-}" -v p="${med[w1.ldbput]:-}" \
    'BEGIN { if (m > 0 && p > 0) printf "%.0f", 1 / (1 / m + 1 / p) }'
}

# The field rows against memfs, tmpfs and the disk, and their targets.
report_fields() {
  echo
  printf '  %-28s %11s %11s  %s\n' "field writes/s" "1 thread" "8 threads" "8/1"
  row "dinemicfs sync=strict" strict
  row "dinemicfs sync=relaxed" relaxed
  row "memfs, served as the daemon" memfs
  row "memfs, first settings" memfs0
  row "tmpfs" tmpfs
  row "write+fdatasync (disk floor)" fsync
  printf '  %-28s %s\n' "LevelDB synced put (${ldb_record} B)" "$(cellfmt w1.ldbput)"
  printf '  %-28s %11s\n' "serial floor, strict" "$(strict_floor)"
  echo
  printf '  %-28s %11s %11s  %s\n' "field reads/s" "1 thread" "8 threads" "8/1"
  rrow "dinemicfs" dfs
  rrow "memfs, served as the daemon" memfs
  rrow "memfs, first settings" memfs0
  rrow "tmpfs" tmpfs
  echo
  printf '  %-36s %11s  %s\n' "listeners, sync=relaxed, 1 writer" "writes/s" "vs none"
  for l in "no listener:w1.relaxed" "/bin/true before-listener:l1.before" \
    "/bin/true after-listener:l1.after"; do
    printf '  %-36s %11s  %s\n' "${l%%:*}" "${med[${l#*:}]:-n/a}" \
      "$(ratio "${med[${l#*:}]:-}" "${med[w1.relaxed]:-}")"
  done
  printf '  %-36s %11s\n' "posix_spawn + wait of true (floor)" "${med[spawn1]:-n/a}"
  echo
  printf '  %-44s %8s   %s\n' "listeners, ratio" "value" "target"
  check "before-listener writes / spawn floor" "$(ratio "${med[l1.before]:-}" "${med[spawn1]:-}")" \
    ">=" 0.80
  check "after-listener writes / spawn floor" "$(ratio "${med[l1.after]:-}" "${med[spawn1]:-}")" \
    ">=" 0.80
  # A before-listener runs in the write, so the two add up: what spawn1 and
  # w1.relaxed allow, one after the other, shows the cost of the path itself.
  local serial
  serial=$(awk -v s="${med[spawn1]:-}" -v w="${med[w1.relaxed]:-}" \
    'BEGIN { if (s > 0 && w > 0) printf "%.0f", 1 / (1 / s + 1 / w) }')
  printf '  %-44s %8s\n' "  spawn1 + w1.relaxed in series (writes/s)" "${serial:-n/a}"
  printf '  %-44s %8s\n' "  before-listener writes / that" "$(ratio "${med[l1.before]:-}" "$serial")"
  echo
  printf '  %-44s %8s   %s\n' "ratio" "value" "target"
  check "strict 1 writer / serial floor" \
    "$(ratio "${med[w1.strict]:-}" "$(strict_floor)")" ">=" 0.85
  check "strict / relaxed, 8 writers" \
    "$(ratio "${med[w8.strict]:-}" "${med[w8.relaxed]:-}")" ">=" 0.70
  check "strict 1 writer / fdatasync floor" \
    "$(ratio "${med[w1.strict]:-}" "${med[w1.fsync]:-}")" ">=" 0.70
  check "strict 8 writers / strict 1 writer" \
    "$(ratio "${med[w8.strict]:-}" "${med[w1.strict]:-}")" ">=" 3
  check "relaxed / memfs, 1 writer" "$(ratio "${med[w1.relaxed]:-}" "${med[w1.memfs]:-}")" ">=" 0.5
  check "relaxed / memfs, 8 writers" "$(ratio "${med[w8.relaxed]:-}" "${med[w8.memfs]:-}")" ">=" 0.5
  check "reads / memfs, 1 reader" "$(ratio "${med[r1.dfs]:-}" "${med[r1.memfs]:-}")" ">=" 1.0
  check "reads / memfs, 8 readers" "$(ratio "${med[r8.dfs]:-}" "${med[r8.memfs]:-}")" ">=" 1.0
}

# Encrypted against plain fields, and the data-key rotations.
report_crypt() {
  echo
  printf '  %-28s %11s %11s  %s\n' "encrypted fields, relaxed" "1 thread" "8 threads" "8/1"
  row "plain field writes/s" cplain
  row "encrypted field writes/s" csealed
  printf '  %-28s %11s %11s\n' "encrypted / plain" \
    "$(ratio "${med[w1.csealed]:-}" "${med[w1.cplain]:-}")" \
    "$(ratio "${med[w8.csealed]:-}" "${med[w8.cplain]:-}")"
  rrow "plain field reads/s" cplain
  rrow "encrypted field reads/s" csealed
  printf '  %-28s %11s %11s\n' "encrypted / plain" \
    "$(ratio "${med[r1.csealed]:-}" "${med[r1.cplain]:-}")" \
    "$(ratio "${med[r8.csealed]:-}" "${med[r8.cplain]:-}")"
  echo
  printf '  %-44s %8s %8s %8s\n' \
    "data key, 1,000 fields, 20 readers, ${crypt_rotations}x" "median" "first" "last"
  rotrow "remove a reader: new data key (ms)" rot.E.remove
  rotrow "add it back: keys re-sealed (ms)" rot.E.add
  rotrow "same, plain fields: remove a reader (ms)" rot.P.remove
  rotrow "same, plain fields: add it back (ms)" rot.P.add
  printf '  %-44s %8s\n' "rotation / plain removal" \
    "$(ratio "${med[rot.E.remove]:-}" "${med[rot.P.remove]:-}")"
  printf '  %-44s %8s\n' "re-seal / plain addition" \
    "$(ratio "${med[rot.E.add]:-}" "${med[rot.P.add]:-}")"
  echo
  printf '  %-44s %8s   %s\n' "encrypted fields" "value" "target"
  check "encrypted / plain writes, 1 writer" \
    "$(ratio "${med[w1.csealed]:-}" "${med[w1.cplain]:-}")" ">=" 0.80
  check "encrypted / plain writes, 8 writers" \
    "$(ratio "${med[w8.csealed]:-}" "${med[w8.cplain]:-}")" ">=" 0.80
  check "encrypted / plain reads, 1 reader" \
    "$(ratio "${med[r1.csealed]:-}" "${med[r1.cplain]:-}")" ">=" 0.80
  check "encrypted / plain reads, 8 readers" \
    "$(ratio "${med[r8.csealed]:-}" "${med[r8.cplain]:-}")" ">=" 0.80
}

# A million fields: RSS and remount.
report_memory() {
  echo
  printf '  memory: %d fields (%d objects x %d), sync=relaxed, filled in %s s (%s fields/s)\n' \
    "$nfields" "$mem_objects" "$mem_fields" "$fill_secs" "$fill_rate"
  if [[ -n ${rss_cat:-} ]]; then
    check "daemon VmRSS after fill + cat of $mem_sample fields (MiB)" "$(mib "$rss_cat")" "<" 100
  else
    check "VmRSS after fill (the cat crashed it) (MiB)" "$(mib "${rss_fill:-}")" "<" 100
  fi
  printf '  %-44s %8s   (RssAnon %s)\n' "  VmRSS after fill + cat (MiB)" "$(mib "${rss_cat:-}")" \
    "$(mib "${anon_cat:-}")"
  printf '  %-44s %8s   (RssAnon %s)\n' "  VmRSS after fill, before any read (MiB)" \
    "$(mib "${rss_fill:-}")" "$(mib "${anon_fill:-}")"
  printf '  %-44s %8s\n' "  peak VmHWM through fill + cat (MiB)" "$(mib "${hwm_cat:-}")"
  printf '  %-44s %8s\n' "  remount: time to mount (s)" "$mount_secs"
  printf '  %-44s %8s   (RssAnon %s)\n' "  remount: VmRSS once mounted (MiB)" \
    "$(mib "${rss_mount:-}")" "$(mib "${anon_mount:-}")"
  printf '  %-44s %8s   (RssAnon %s)\n' "  remount: VmRSS after cat (MiB)" \
    "$(mib "${rss_cold:-}")" "$(mib "${anon_cold:-}")"
  printf '  %-44s %8s\n' "  state dir on disk (MiB)" "$disk_mib"
}

# The catch-up rows: spread and hot log, each filled for this run.
report_catch_up() {
  local log what

  echo
  printf '  catch-up of a fresh node D, logs written for this run (medians of 3 over TLS\n'
  printf '  and 3 over plain ws://, taking turns):\n'
  printf '    spread: %s objects x %s fields, each written once (%s updates, filled in %s s)\n' \
    "$cu_objects" "$cu_fields" "${cu_n[spread]:-?}" "${cu_fill[spread]:-?}"
  printf '    hot: %s fields of one object rewritten, %s writes (%s updates, filled in %s s)\n' \
    "$cu_hot" "$repl_catchup" "${cu_n[hot]:-?}" "${cu_fill[hot]:-?}"
  echo
  printf '  %-44s %8s   %s\n' "replication" "value" "target"
  check "p99 write on A -> event on C via B (ms)" "${l_p99:-}" "<" 5
  for log in spread hot; do
    what="catch-up, $log log, TLS (updates/s)"
    if [[ ${cu_tls[$log]:-} == stuck ]]; then
      printf '  %-44s %8s   %s %-6s %s\n' "$what" "stuck" ">=" 30000 "MISS"
    else
      check "$what" "${cu_tls[$log]:-}" ">=" 30000
    fi
    printf '  %-44s %8s\n' "  $log log over plain ws:// (updates/s)" "${cu_plain[$log]:-n/a}"
    check "  $log log: TLS / plain ws://" "$(ratio "${cu_tls[$log]:-}" "${cu_plain[$log]:-}")" \
      ">=" 0.9
    printf '  %-44s %8s\n' "  $log log: seconds to the last update, TLS" "${cu_s[$log]:-n/a}"
  done
}

# Propagation latency, replicated writes/s, catch-up.
report_repl() {
  echo
  printf '  %-36s %8s %8s %8s %8s\n' "propagation, $repl_writes writes, serial" \
    "p50 ms" "p99 ms" "max ms" "timeouts"
  latrow "write on A -> IN_CLOSE_WRITE on C" "$lat_repl"
  latrow "tmpfs write -> IN_CLOSE_WRITE" "$lat_tmpfs"
  printf '  %-36s %8s %8s %8s\n' "A -> B -> C / tmpfs" "$(factor_of "${l_p50:-}" "${t_p50:-}")" \
    "$(factor_of "${l_p99:-}" "${t_p99:-}")" "$(factor_of "${l_max:-}" "${t_max:-}")"
  if [[ -n ${l_n:-} ]] && ((l_n != repl_writes || l_ev != l_n)); then
    printf '  %-36s %s\n' "" "($l_n writes made, $l_ev matching events seen on C)"
  fi
  echo
  printf '  %-28s %11s %11s  %s\n' "replicated writes/s, relaxed" "1 thread" "8 threads" "8/1"
  ((fields_done)) && row "single node (cells above)" relaxed
  row "A <- B <- C: writes on A" repl_a
  row "A <- B <- C: stored on C" repl_e2e
  ((fields_done)) && printf '  %-28s %11s %11s\n' "stored on C / single node" \
    "$(ratio "${med[w1.repl_e2e]:-}" "${med[w1.relaxed]:-}")" \
    "$(ratio "${med[w8.repl_e2e]:-}" "${med[w8.relaxed]:-}")"
  printf '  %-28s %s %s\n' "C done after A's writers (s)" "$(lagfmt w1.repl_lag)" \
    "$(lagfmt w8.repl_lag)"
  report_catch_up
  printf '  %-44s %8s\n' "  replication section: seconds in all" "$repl_secs"
}

# Propagation A -> B, idle and while H floods; the 50 ms target.
report_attack() {
  local id v=${med[atk.attack.p99]:-} verdict=n/a vi vp idle_k peak_k rise_k verdict_m

  echo
  printf '  propagation A -> B, %d writes over %d objects x %d fields, one per %d ms;\n' \
    "$attack_writes" "$attack_objects" "$attack_fields" "$attack_gap"
  printf '  attack: H floods B and A with flood.sh'"'"'s recipes (median %s rounds sent)\n' \
    "${atk_sent_med:-0}"
  printf '  %-36s %8s %8s %8s %8s\n' "median of $rounds runs, timeouts: sum" \
    "p50 ms" "p99 ms" "max ms" "timeouts"
  for id in idle attack; do
    printf '  %-36s %s %s %s %8s\n' "$id" "$(msfmt "${med[atk.$id.p50]:-}")" \
      "$(msfmt "${med[atk.$id.p99]:-}")" "$(msfmt "${med[atk.$id.max]:-}")" "${atk_to[$id]:-0}"
  done
  echo
  if [[ -n $v ]]; then
    verdict=MISS
    awk -v v="$v" 'BEGIN { exit !(v < 50) }' && verdict=PASS
  fi
  printf '  %-28s %8s %8s %8s   %s\n' "attack" "idle p99" "atk p99" "ratio" "target"
  printf '  %-28s %s %s %8s   < 50 ms  %s\n' "p99 A -> B while H floods" \
    "$(msfmt "${med[atk.idle.p99]:-}")" "$(msfmt "$v")" \
    "$(ratio "$v" "${med[atk.idle.p99]:-}")" "$verdict"
  printf '  %-28s %8s %8s %8s   %s\n' "peak RSS (VmHWM, MiB)" "idle" "after H" "rise" "target"
  for id in a b; do
    vi=atk_idle_$id vp=atk_peak_$id
    idle_k=${!vi:-} peak_k=${!vp:-} rise_k="" verdict_m=n/a
    if [[ -n $idle_k && -n $peak_k ]]; then
      rise_k=$((peak_k - idle_k)) verdict_m=MISS
      ((rise_k < 64 * 1024)) && verdict_m=PASS
    fi
    printf '  %-28s %8s %8s %8s   < 64 MiB %s\n' "  ${id^^}, H sending ${atk_h_secs:-0} s" \
      "$(mib "$idle_k")" "$(mib "$peak_k")" "$(mib "$rise_k")" "$verdict_m"
  done
  printf '  %-44s %8s\n' "  attack section: seconds in all" "$attack_secs"
}

# Failed runs, replication and encrypted-field notes, daemons that died.
report_notes() {
  notes=0
  for id in "${cells[@]}"; do
    if ((${fails[$id]:-0} > 0)); then
      ((notes++)) || echo
      printf '  * %s: %d run(s) failed (%d rounds; a failed dinemicfs run is retried once)\n' \
        "$id" "${fails[$id]}" "$rounds"
    fi
  done
  for id in w1.repl_a w8.repl_a w1.repl_e2e w8.repl_e2e; do
    if ((${fails[$id]:-0} > 0)); then
      ((notes++)) || echo
      printf '  * %s: %d run(s) failed\n' "$id" "${fails[$id]}"
    fi
  done
  for n in "${repl_notes[@]}"; do
    ((notes++)) || echo
    printf '  ! replication: %s\n' "$n"
  done
  for n in "${attack_notes[@]}"; do
    ((notes++)) || echo
    printf '  ! attack: %s\n' "$n"
  done
  for id in idle attack; do
    if ((${atk_noevent[$id]:-0} > 0)); then
      ((notes++)) || echo
      printf '  ! attack: %d %s write(s) reached B but made no inotify event there (each\n' \
        "${atk_noevent[$id]}" "$id"
      printf '    counted as a timeout of %d ms)\n' "$atk_timeout"
    fi
  done
  if ((${atk_failed_sum:-0} > 0)); then
    ((notes++)) || echo
    printf '  ! attack: %d of H'"'"'s rounds were not all taken (wsprobe failed)\n' \
      "$atk_failed_sum"
  fi
  for n in "${crypt_notes[@]}"; do
    ((notes++)) || echo
    printf '  ! encrypted fields: %s\n' "$n"
  done
  for name in "${!crashes[@]}"; do
    ((notes++)) || echo
    printf '  ! dinemicfs (%s) died %d time(s) during the run\n' \
      "$name" "${crashes[$name]}"
  done
}

# The whole table, on stdout.
print_report() {
  echo
  printf 'dinemicfs bench: median of %d rounds x %d s, ops/s; %s CPUs; state dir on %s (%s)\n' \
    "$rounds" "$secs" "$(nproc)" "$(findmnt -no SOURCE -T "$work" 2>/dev/null)" \
    "$(findmnt -no FSTYPE -T "$work" 2>/dev/null)"
  if ((fields_done)); then
    report_fields
  fi
  if ((crypt_done)); then
    report_crypt
  fi
  if ((mem_done)); then
    report_memory
  fi
  if ((repl_done)); then
    report_repl
  fi
  if ((attack_done)); then
    report_attack
  fi
  report_notes
}

# The full meshes (bench.d/mesh.sh): per update, over all links.
report_mesh() {
  local n

  echo
  printf '  full mesh on 127.0.0.1, %d writes, one at a time (per update, all links)\n' \
    "$mesh_writes"
  printf '  %-6s %10s %10s %10s %12s %7s %7s %9s %8s %8s\n' nodes "full/upd" "limit" \
    "HAVE/upd" "KiB out/upd" grafts prunes converged "p50 ms" "p99 ms"
  for n in $mesh_sizes; do
    printf '  %-6s %10s %10s %10s %12s %7s %7s %9s %8s %8s\n' "$n" "${mesh_res[$n.sent]:-}" \
      "$(awk -v n="$n" 'BEGIN { printf "%.1f", 1.5 * (n - 1) }')" "${mesh_res[$n.ann]:-}" \
      "${mesh_res[$n.kib]:-}" "${mesh_res[$n.grafts]:-}" "${mesh_res[$n.prunes]:-}" \
      "${mesh_res[$n.converged]:-}" "${mesh_res[$n.p50]:-}" "${mesh_res[$n.p99]:-}"
  done
  for n in "${mesh_notes[@]}"; do
    printf '  ! %s\n' "$n"
  done
}
