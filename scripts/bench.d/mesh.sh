# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/mesh.sh - a full mesh of 8 and of 16 nodes on 127.0.0.1 (each
# node connects to every node started before it, sync=relaxed, TLS): writes
# spread over the nodes, one at a time, each timed until every node stored
# it; per update, the full updates and the hashes (HAVE) sent over all
# links, the bytes, the grafts and prunes. Sourced by scripts/bench.
#
# Environment: BENCH_MESH_WRITES (200 a mesh), BENCH_MESH_SIZES ("8 16").

# mesh_sum KEY: the counter summed over the mesh's nodes (a missing key is 0).
mesh_sum() {
  local m s=0 v

  for m in "${mesh_mnts[@]}"; do
    v=$(stat_of "$m" "$1") || v=0
    s=$((s + v))
  done
  echo "$s"
}

# mesh_all_at TARGET: every node's log_head is TARGET or more; reads, no forks.
mesh_all_at() {
  local m k v n

  for m in "${mesh_mnts[@]}"; do
    n=""
    while read -r k v; do
      if [[ $k == log_head ]]; then
        n=$v
        break
      fi
    done 2>/dev/null <"$m/.node/stats"
    [[ $n =~ ^[0-9]+$ ]] && ((n >= $1)) || return 1
  done
}

# mesh_wait TARGET: mesh_all_at every 2 ms, for up to 10 s.
mesh_wait() {
  local t0=${EPOCHREALTIME//[!0-9]/}

  until mesh_all_at "$1"; do
    ((${EPOCHREALTIME//[!0-9]/} - t0 < 10000000)) || return 1
    sleep 0.002
  done
}

# mesh_ports N: sets mesh_port to the first of N free ports in a row.
mesh_ports() {
  local i try

  mesh_port=$((21000 + ($$ * 7) % 30000))
  for ((try = 0; try < 50; try++, mesh_port += $1)); do
    for ((i = 0; i < $1; i++)); do
      port_busy $((mesh_port + i)) && continue 2
    done
    return 0
  done
  return 1
}

# mesh_one N: a mesh of N nodes; sets mesh_res[N.*].
mesh_one() {
  local n=$1 i j peers t0 t1 base lat=() s0 a0 b0 g0 p0 d0 k m ok=1

  mesh_ports "$n" || die "mesh: no $n free ports on 127.0.0.1"
  mesh_mnts=()
  progress "mesh: $n nodes on 127.0.0.1:$mesh_port.., a full mesh"
  for ((i = 0; i < n; i++)); do
    peers=""
    for ((j = 0; j < i; j++)); do peers+=",peer=wss://127.0.0.1:$((mesh_port + j))"; done
    start_dfs "mesh$n-$i" relaxed "" "policy=open,listen=127.0.0.1:$((mesh_port + i))$peers"
    mesh_mnts+=("$work/mesh$n-$i")
  done
  for m in "${mesh_mnts[@]}"; do
    wait_until 30 peers_up_at_least "$m" $((n - 1)) ||
      die "mesh: $m has not every link up: $(cat "$m/.node/peers" 2>&1)"
  done
  for ((i = 0; i < n; i++)); do
    mkdir -p "${mesh_mnts[$i]}/M/o$i" || die "mesh: cannot write on node $i"
  done
  # Every node's object everywhere first: the rows count the writes only.
  wait_until 30 mesh_all_at "$n" || die "mesh: the objects did not reach every node"
  sleep 0.5
  base=$(stat_of "${mesh_mnts[0]}" log_head)
  s0=$(mesh_sum updates_sent) a0=$(mesh_sum updates_announced) b0=$(mesh_sum bytes_out)
  g0=$(mesh_sum grafts_sent) p0=$(mesh_sum prunes_sent) d0=$(mesh_sum updates_duplicate)
  for ((k = 1; k <= mesh_writes; k++)); do
    i=$((k % n))
    t0=$(usec)
    printf '%d\n' "$k" >"${mesh_mnts[$i]}/M/o$i/f$((k % 10))" || die "mesh: write $k failed"
    if ! mesh_wait $((base + k)); then
      ok=0
      mesh_notes+=("mesh of $n: write $k did not reach every node within 10 s")
      break
    fi
    t1=$(usec)
    lat+=($(((t1 - t0) / 1000)))
  done
  sleep 0.5	# the last HAVEs and ACKs
  mesh_res[$n.sent]=$(awk -v a="$(mesh_sum updates_sent)" -v b="$s0" -v w="$mesh_writes" \
    'BEGIN { printf "%.1f", (a - b) / w }')
  mesh_res[$n.ann]=$(awk -v a="$(mesh_sum updates_announced)" -v b="$a0" -v w="$mesh_writes" \
    'BEGIN { printf "%.1f", (a - b) / w }')
  mesh_res[$n.kib]=$(awk -v a="$(mesh_sum bytes_out)" -v b="$b0" -v w="$mesh_writes" \
    'BEGIN { printf "%.1f", (a - b) / w / 1024 }')
  mesh_res[$n.grafts]=$(($(mesh_sum grafts_sent) - g0))
  mesh_res[$n.prunes]=$(($(mesh_sum prunes_sent) - p0))
  mesh_res[$n.dups]=$(($(mesh_sum updates_duplicate) - d0))
  mesh_res[$n.p50]=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{ a[NR] = $1 }
    END { if (NR) print a[int((NR + 1) / 2)] }')
  mesh_res[$n.p99]=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{ a[NR] = $1 }
    END { if (NR) { i = int(NR * 0.99 + 0.999); if (i > NR) i = NR; print a[i] } }')
  mesh_res[$n.converged]=$([[ $ok == 1 ]] && mesh_all_at $((base + mesh_writes)) && echo yes || echo no)
  for m in "${mesh_mnts[@]}"; do
    ours "${mnt_pid[$m]:-}" "$m" || crashes[mesh$n]=$((${crashes[mesh$n]:-0} + 1))
    stop_mount "$m"
  done
}

run_mesh() {
  local n

  mesh_writes=${BENCH_MESH_WRITES:-200}
  [[ $mesh_writes =~ ^[1-9][0-9]*$ ]] || die "BENCH_MESH_WRITES must be a positive integer"
  mesh_sizes=${BENCH_MESH_SIZES:-8 16}
  declare -gA mesh_res=()
  mesh_notes=()
  for n in $mesh_sizes; do
    mesh_one "$n"
  done
  mesh_done=1
}
