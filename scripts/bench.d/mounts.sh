# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/mounts.sh - the work dirs, each mount's PID, unmounting by PID, the
# EXIT trap, start_dfs, start_memfs and revive_dfs. Sourced by scripts/bench.

# ---- mounts and cleanup --------------------------------------------------------

# The state dirs and the fsync file sit on the normal disk, not on tmpfs.
work=$(mktemp -d /var/tmp/dinemicfs-bench.XXXXXX) || die "mktemp failed"
shm=$(mktemp -d /dev/shm/dinemicfs-bench.XXXXXX) || die "mktemp failed"
declare -A mnt_pid=()  # mountpoint -> pid of its filesystem process ("" until known)
helper_pids=()         # background shells of ours (the attack section's hostile peer)

# Listed in the mount table, even when its daemon is gone (ENOTCONN).
mounted() {
  awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# Mounts below $1, if any.
# shellcheck disable=SC2317 # used by cleanup, which the trap invokes
mounts_under() {
  awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts
}

# True while pid is still the process we started for mountpoint $2.
ours() {
  local cmd

  [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 1
  cmd=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null) || return 1
  [[ " $cmd " == *" $2 "* ]]
}

# Unmounts $1 and waits for its process; signals it by PID only if it lingers.
stop_mount() {
  local mnt=$1 pid=${mnt_pid[$1]:-} i

  if mounted "$mnt"; then
    fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null
  fi
  for ((i = 0; i < 100; i++)); do
    ours "$pid" "$mnt" || break
    sleep 0.05
  done
  if ours "$pid" "$mnt"; then
    kill -TERM "$pid" 2>/dev/null
    sleep 0.5
    ours "$pid" "$mnt" && kill -KILL "$pid" 2>/dev/null
  fi
  # Reaps memfs, which is our child; the daemonized dinemicfs is not.
  [[ -n $pid ]] && wait "$pid" 2>/dev/null
  unset "mnt_pid[$mnt]"
}

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local m

  trap - EXIT INT TERM HUP
  for m in "${helper_pids[@]}"; do
    kill -TERM "$m" 2>/dev/null
    wait "$m" 2>/dev/null
  done
  for m in "${!mnt_pid[@]}"; do
    stop_mount "$m"
  done
  # Never delete through a mount that would not go away.
  if [[ -n $(mounts_under "$work") ]]; then
    echo "bench: still mounted, left in place: $(mounts_under "$work" | tr '\n' ' ')" >&2
  elif [[ -n ${BENCH_KEEP:-} ]]; then
    echo "bench: BENCH_KEEP set, work dir left in place: $work" >&2
  else
    rm -rf -- "$work"
  fi
  rm -rf -- "$shm"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP

wait_mounted() {
  local mnt=$1 pid=$2 i

  for ((i = 0; i < 200; i++)); do
    mounted "$mnt" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# start_dfs NAME SYNC [STATE [OPTIONS]]: dinemicfs on $work/NAME, daemonized as a
# user would run it; OPTIONS are more -o options (listen=..., peer=...).
declare -A dfs_sync=()  # name -> its sync= option, for revive_dfs
start_dfs() {
  local name=$1 sync=$2 state=${3:-$work/$1.state} mnt=$work/$1 pid

  mkdir -p "$mnt"
  mnt_pid[$mnt]=""
  dfs_sync[$name]=$sync
  "$DFS" -o "sync=$sync${4:+,$4}" "$state" "$mnt" 2>>"$work/$name.log" ||
    die "dinemicfs did not mount on $mnt: $(tail -n 3 "$work/$name.log")"
  pid=$(head -n 1 "$state/lock")
  mnt_pid[$mnt]=$pid
  if ! ours "$pid" "$mnt" || ! mounted "$mnt"; then
    die "dinemicfs on $mnt is not running"
  fi
}

# start_memfs NAME [memfs options]: memfs on $work/NAME, in the foreground, as our child.
start_memfs() {
  local mnt=$work/$1 pid

  mkdir -p "$mnt"
  mnt_pid[$mnt]=""
  "$MEMFS" "${@:2}" -f "$mnt" 2>>"$work/$1.log" &
  pid=$!
  mnt_pid[$mnt]=$pid
  wait_mounted "$mnt" "$pid" || die "memfs did not mount on $mnt"
}

# revive_dfs NAME [count-only]: remounts a dinemicfs (started by start_dfs
# with no STATE or OPTIONS) whose daemon died, with the same sync= and its
# cells' objects (dfs_dirs), so that later cells still run; with count-only,
# just counts the death.
declare -A crashes=() dfs_dirs=()
dfs_dirs[strict]="B/w B/r L/w Z/w"
dfs_dirs[relaxed]="B/w B/r L/w Z/w"
revive_dfs() {
  local name=$1 mnt=$work/$1 d

  if ours "${mnt_pid[$mnt]:-}" "$mnt" && mounted "$mnt"; then
    return 0
  fi
  crashes[$name]=$((${crashes[$name]:-0} + 1))
  [[ ${2:-} == count-only ]] && return 0
  progress "dinemicfs ($name) died; remounting its state dir"
  stop_mount "$mnt"
  start_dfs "$name" "${dfs_sync[$name]}"
  for d in ${dfs_dirs[$name]:-}; do
    mkdir -p "$mnt/$d"
  done
}
