# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # names shared with scripts/bench
# SPDX-License-Identifier: MIT
# bench.d/attack.sh - replication under attack: the p99 propagation A -> B of
# field writes spread over many objects and fields, once idle and once while
# a hostile peer H floods B and A with the recipes of tests/e2e/cases/flood.sh,
# in each of $rounds rounds. Sourced by scripts/bench.

# ---- attack --------------------------------------------------------------------

# Nodes on 127.0.0.1, sync=relaxed, over TLS, with one network key: A, and B
# with peer=A. H is tests/e2e/wsprobe with that key, a new node key for every
# connection, sending update records that tests/e2e/mkupdate signs, as
# flood.sh's hostile peer does. Each of H's rounds is one message of: a value
# over max_value (2 MiB), four appends of 256 KiB to one field (past
# max_value), two updates whose predecessor never comes, one stamped an hour
# ahead, and two by a fresh key that nobody authorized (on an object of A's);
# every update is new. A round goes to B, then the same to A, each over a new
# connection whose handshake asks for the node's whole log (WANT 0). The
# first $attack_pool rounds are made before an attack run starts (H would
# make them elsewhere), so H's own CPU is mostly wsprobe's: TLS and the
# sending; rounds past those are made as H goes.
# 4000 writes, one per 5 ms: H sends for some 30 s a run, well over 60 s in all.
attack_writes=${BENCH_ATTACK_WRITES:-4000}
attack_objects=${BENCH_ATTACK_OBJECTS:-50}
attack_fields=${BENCH_ATTACK_FIELDS:-20}
attack_gap=${BENCH_ATTACK_GAP_MS:-5}
attack_pool=${BENCH_ATTACK_POOL:-30}
for v in attack_writes attack_objects attack_fields attack_pool; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ $attack_gap =~ ^[0-9]+$ ]] || die "attack_gap must be an integer, not '$attack_gap'"
attack_notes=()

# atk_mk ARGS...: one update record, by mkupdate make; prints its hash.
atk_mk() {
  "$MKUPDATE" make "$@" 2>>"$work/attack.log"
}

# atk_gen N: H's round N, as files $atk_dir/rN/1 ... 10 (flood.sh's round);
# fails unless it made them all.
atk_gen() {
  local n=$1 d=$atk_dir/r$1 key=$atk_dir/r$1/key prev=$atk_obj i nowhere

  mkdir -p "$d" || return 1
  "$MKUPDATE" newkey "$key" >/dev/null 2>>"$work/attack.log" || return 1
  printf '%08d' "$n" >>"$atk_dir/big"
  atk_mk --key "$atk_key" --op set --clock now --entity self --model Junk --name "big$n" \
    --value-file "$atk_dir/big" --prev "$prev" --out "$d/1" >/dev/null
  for i in 2 3 4 5; do
    printf '%08d%d' "$n" "$i" >>"$atk_dir/part"
    prev=$(atk_mk --key "$atk_key" --op append --clock now --entity self --model Junk \
      --name list --value-file "$atk_dir/part" --prev "$prev" --out "$d/$i")
  done
  for i in 6 7; do
    printf '%08d%d' "$n" "$i" >>"$atk_dir/small"
    nowhere=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    atk_mk --key "$atk_key" --op set --clock now --entity self --model Junk --name "p$i" \
      --value-file "$atk_dir/small" --prev "$nowhere" --out "$d/$i" >/dev/null
  done
  atk_mk --key "$atk_key" --op set --clock now+3600000 --entity self --model Junk \
    --name "late$n" --value-file "$atk_dir/small" --prev "$atk_obj" --out "$d/8" >/dev/null
  for i in 9 10; do
    atk_mk --key "$key" --op set --clock now --entity "$atk_vid" --model V --name "x$i" \
      --value-file "$atk_dir/small" --prev "$atk_vhead" --out "$d/$i" >/dev/null
  done
  rm -f "$key"
  for i in {1..10}; do
    [[ -s $d/$i ]] || return 1
  done
}

# atk_send PORT FILE...: lib.sh's hostile_send: one UPDATES message, then a pong.
atk_send() {
  timeout 20 "$WSPROBE" --netkey "$atk_netkey" "$1" handshake send "${@:2}" open \
    >>"$work/attack.log" 2>&1
}

# atk_flood FIRST: H's rounds from FIRST on, each to B, then to A, until
# $atk_dir/stop exists; a round not made yet is made then. Logs "N rcB rcA"
# for each in $atk_dir/sent. Runs in the background.
atk_flood() {
  local n=$1 rb_=0 ra_=0 f

  for (( ; ; n++)); do
    [[ -e $atk_dir/stop ]] && break
    [[ -f $atk_dir/r$n/10 ]] || atk_gen "$n"
    f=("$atk_dir/r$n"/{1..10})
    atk_send "$pb" "${f[@]}"
    rb_=$?
    atk_send "$pa" "${f[@]}"
    ra_=$?
    echo "$n $rb_ $ra_" >>"$atk_dir/sent"
    rm -rf "${atk_dir:?}/r$n"
  done
}

# atk_settle MNT...: waits until updates_stored of every MNT stays the same
# for 1 s (at most 30 s): what H sent has been dealt with.
atk_settle() {
  local before="" now i m

  for ((i = 0; i < 60; i++)); do
    now=""
    for m in "$@"; do
      now+="$(stat_of "$m" updates_stored) "
    done
    [[ $now == "$before" ]] && return 0
    before=$now
    sleep 0.5
  done
  attack_notes+=("the nodes still stored updates 30 s after H stopped")
}

# atk_prop LABEL: one propbench run of $attack_writes writes A -> B; adds its
# p50, p99 and max to results[atk.LABEL.p50 ...] and its timeouts to
# atk_to[LABEL]. A write whose event does not come in $atk_timeout ms counts
# as taking that long.
declare -A atk_to=()
atk_timeout=2000
atk_prop() {
  local out p50 p99 max to

  out=$("$PB" -o "$attack_objects" -f "$attack_fields" -g "$attack_gap" "$ra/T" "$rb/T" \
    "$attack_writes" "$atk_timeout" 2>>"$work/propbench.$1.log")
  if ! read -r p50 p99 max to _ <<<"$out" || [[ -z $to ]]; then
    attack_notes+=("a propbench run ($1) failed: $(tail -n 1 "$work/propbench.$1.log")")
    return 1
  fi
  results[atk.$1.p50]+=" $p50"
  results[atk.$1.p99]+=" $p99"
  results[atk.$1.max]+=" $max"
  atk_to[$1]=$((${atk_to[$1]:-0} + to))
  printf '%s p99 %s ms ' "$1" "$p99" >&2
}

# A, B, H's key, model and object, the objects written and their fields.
atk_setup() {
  local k

  pick_ports || die "attack: no free ports on 127.0.0.1 from $repl_port"
  pa=$repl_port pb=$((repl_port + 1))
  ra=$work/atk_a rb=$work/atk_b atk_dir=$shm/attack
  mkdir -p "$atk_dir" || die "cannot make $atk_dir"
  atk_netkey=$work/attack.netkey
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$atk_netkey")
  progress "attack: A <- B on 127.0.0.1:$pa,$pb (sync=relaxed, one network key)"
  start_dfs atk_a relaxed "" "listen=127.0.0.1:$pa,network_key=$atk_netkey"
  start_dfs atk_b relaxed "" \
    "listen=127.0.0.1:$pb,peer=wss://127.0.0.1:$pa,network_key=$atk_netkey"
  wait_until 10 peers_up_at_least "$rb" 1 ||
    die "attack: the link did not come up: $(cat "$rb/.node/peers" 2>&1)"
  if ! mkdir -p "$ra/V/v" "$ra/T" || ! printf 'v\n' >"$ra/V/v/f"; then
    die "attack: cannot write on A"
  fi
  for ((k = 0; k < attack_objects; k++)); do
    mkdir "$ra/T/o$k" || die "attack: cannot create T/o$k on A"
  done
  wait_until 20 test -d "$rb/T/o$((attack_objects - 1))" -a -f "$rb/V/v/f" ||
    die "attack: the objects did not reach B"
  atk_vid=$(cut -d' ' -f2 "$ra/V/v/.id")
  atk_vhead=$(awk 'END { print $2 }' "$ra/V/v/.history")
  atk_key=$atk_dir/h.key
  if ! "$MKUPDATE" newkey "$atk_key" >/dev/null 2>>"$work/attack.log" ||
    ! atk_mk --key "$atk_key" --op model-create --clock now --entity model --model Junk \
      --out "$atk_dir/m.upd" >/dev/null ||
    ! atk_obj=$(atk_mk --key "$atk_key" --op object-create --clock now --entity self \
      --model Junk --name o --out "$atk_dir/o.upd") ||
    ! atk_send "$pb" "$atk_dir/m.upd" "$atk_dir/o.upd" ||
    ! wait_until 10 test -d "$ra/Junk/o"; then
    die "attack: H's object did not arrive: $(tail -n 2 "$work/attack.log")"
  fi
  head -c $((2 << 20)) /dev/urandom >"$atk_dir/big"
  head -c $((256 << 10)) /dev/urandom >"$atk_dir/part"
  head -c $((64 << 10)) /dev/urandom >"$atk_dir/small"
  # Every field once, so that the runs write fields that exist.
  progress "attack: writing $attack_objects objects x $attack_fields fields once on A"
  "$PB" -o "$attack_objects" -f "$attack_fields" "$ra/T" "$rb/T" \
    $((attack_objects * attack_fields)) 5000 >/dev/null 2>>"$work/propbench.log" ||
    die "attack: the fields did not reach B: $(tail -n 1 "$work/propbench.log")"
}

# One round: an idle run, then H's rounds made and an attack run while H sends.
# Before H's first round, A's and B's peak RSS (VmHWM) so far is their idle
# peak; H's sending time is summed over the rounds.
atk_round() {
  local r=$1 i pid last t0

  printf 'bench: attack round %d/%d: ' "$r" "$rounds" >&2
  atk_prop idle
  if ((r == 1)); then
    atk_idle_a=$(kib_of "${mnt_pid[$ra]}" VmHWM)
    atk_idle_b=$(kib_of "${mnt_pid[$rb]}" VmHWM)
  fi
  rm -f "$atk_dir/stop" "$atk_dir/sent"
  for ((i = atk_next; i < atk_next + attack_pool; i++)); do
    atk_gen "$i" || die "attack: mkupdate failed: $(tail -n 1 "$work/attack.log")"
  done
  atk_settle "$ra" "$rb"
  t0=$(usec)
  atk_flood "$atk_next" &
  pid=$!
  helper_pids+=("$pid")
  wait_until 20 test -s "$atk_dir/sent" ||
    attack_notes+=("round $r: H's first round took over 20 s")
  atk_prop attack
  touch "$atk_dir/stop"
  wait "$pid"
  atk_h_secs=$(awk -v s="${atk_h_secs:-0}" -v t="$(secs_between "$t0" "$(usec)")" \
    'BEGIN { printf "%.1f", s + t }')
  helper_pids=()
  read -r last _ < <(tail -n 1 "$atk_dir/sent")
  last=${last:-$((atk_next - 1))}
  atk_sent+=" $((last - atk_next + 1))"
  atk_failed+=$(awk '$2 != 0 || $3 != 0 { n++ } END { printf " %d", n }' "$atk_dir/sent")
  printf '(H sent %d rounds)\n' $((last - atk_next + 1)) >&2
  atk_next=$((last + 1))
  rm -rf "${atk_dir:?}"/r*
  atk_settle "$ra" "$rb"
  repl_alive atk_a atk_b
}

# The section; sets attack_done.
declare -A atk_noevent=()
run_attack() {
  local r t0 id

  t0=$(usec)
  WSPROBE=$build/tests/e2e/wsprobe MKUPDATE=$build/tests/e2e/mkupdate
  if [[ ! -x $WSPROBE || ! -x $MKUPDATE ]]; then
    attack_notes+=("skipped: no $WSPROBE or $MKUPDATE (built unless -De2e=disabled)")
    return 0
  fi
  for m in "$work/strict" "$work/relaxed" "$work/memfs" "$work/memfs0"; do
    [[ -n ${mnt_pid[$m]+x} ]] && stop_mount "$m"
  done
  atk_setup
  atk_next=1 atk_sent="" atk_failed="" atk_h_secs=0 atk_idle_a="" atk_idle_b=""
  for ((r = 1; r <= rounds; r++)); do
    repl_alive atk_a atk_b || break
    atk_round "$r"
  done
  for id in idle.p50 idle.p99 idle.max attack.p50 attack.p99 attack.max; do
    # shellcheck disable=SC2086 # the list is space-separated numbers
    med[atk.$id]=$(median ${results[atk.$id]:-})
  done
  for id in idle attack; do
    atk_noevent[$id]=$(grep -c 'but no event came' "$work/propbench.$id.log" 2>/dev/null)
  done
  # shellcheck disable=SC2086
  atk_sent_med=$(median $atk_sent)
  atk_failed_sum=$(awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }' <<<"$atk_failed")
  atk_peak_a=$(kib_of "${mnt_pid[$ra]}" VmHWM)
  atk_peak_b=$(kib_of "${mnt_pid[$rb]}" VmHWM)
  stop_mount "$rb"
  stop_mount "$ra"
  rm -rf "$atk_dir"
  attack_secs=$(secs_between "$t0" "$(usec)")
  progress "attack: done in $attack_secs s"
  attack_done=1
}
