# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/util.sh - helpers of more than one section: median, mib and kib_of,
# the .node/stats readers and waits, ports, and times in microseconds.
# Sourced by scripts/bench.

median() {
  printf '%s\n' "$@" | sort -g | awk 'NF { a[++n] = $1 }
    END { if (!n) exit; print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

mib() {
  awk -v k="$1" 'BEGIN { if (k == "") print "n/a"; else printf "%.1f", k / 1024 }'
}

kib_of() {
  awk -v k="$2" '$1 == k ":" { print $2 }' "/proc/$1/status" 2>/dev/null
}

# stat_of MNT KEY: one value of MNT/.node/stats (fails if the file cannot be read).
stat_of() {
  local k v

  while read -r k v; do
    if [[ $k == "$2" ]]; then
      printf '%s\n' "$v"
      return 0
    fi
  done 2>/dev/null <"$1/.node/stats"
  return 1
}

# The wall clock in microseconds.
usec() {
  printf '%s\n' "${EPOCHREALTIME//[!0-9]/}"
}

# wait_stored MNT TARGET CAP_SECS: polls MNT's updates_stored every 50 ms until
# it reaches TARGET; gives up after CAP_SECS, or once the count has not grown
# for repl_stall seconds. Sets got (the last count) and got_at (usec when it
# reached TARGET, or when it last grew); returns 1 if it gave up. Forks only
# the sleep.
repl_stall=10
wait_stored() {
  local mnt=$1 target=$2 cap=$(($3 * 1000000)) start now n k v last=-1 last_at

  start=${EPOCHREALTIME//[!0-9]/}
  last_at=$start
  for (( ; ; )); do
    n=""
    while read -r k v; do
      if [[ $k == updates_stored ]]; then
        n=$v
        break
      fi
    done 2>/dev/null <"$mnt/.node/stats"
    now=${EPOCHREALTIME//[!0-9]/}
    if [[ $n =~ ^[0-9]+$ ]]; then
      if ((n != last)); then
        last=$n last_at=$now
      fi
      if ((n >= target)); then
        got=$n got_at=$now
        return 0
      fi
    fi
    if ((now - last_at > repl_stall * 1000000 || now - start > cap)); then
      got=$last got_at=$last_at
      return 1
    fi
    sleep 0.05
  done
}

# wait_until SECS COMMAND...: retries COMMAND every 50 ms for up to SECS seconds.
wait_until() {
  local i

  for ((i = 0; i < $1 * 20; i++)); do
    "${@:2}" && return 0
    sleep 0.05
  done
  return 1
}

# shellcheck disable=SC2317 # invoked by wait_until
peers_up_at_least() {
  local n

  n=$(stat_of "$1" peers_up) && ((n >= $2))
}

# Something accepts connections on 127.0.0.1:$1.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Three ports in a row from our PID, past any in use. They come from below
# the kernel's ephemeral range (32768 and up by default), where no outgoing
# connection can hold one.
pick_ports() {
  local i

  repl_port=$((10000 + ($$ * 3) % 22000))
  for ((i = 0; i < 50; i++, repl_port += 3)); do
    port_busy "$repl_port" || port_busy $((repl_port + 1)) ||
      port_busy $((repl_port + 2)) || return 0
  done
  return 1
}
# Seconds, with decimals, between two usec values.
secs_between() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}
