# SPDX-License-Identifier: MIT
# values.sh - one value, one update: what a tool writes through one open file
# is committed as one update, judged whole once by the listeners, and arrives
# whole on the peer in one update; a rejected value fails the tool with EPERM
# and leaves nothing of itself on any node; until a value is committed every
# other reader sees the old one. Two nodes, a JSON-validating before-listener
# and a counting after-listener on each.
. "$(dirname "$0")/../lib.sh"
for t in python3 rsync nano script; do
  command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps test)"
done
[ "$FAILS" -eq 0 ] || finish

P=$(port_base 1)
start_node a -o listen=127.0.0.1:$P,max_value=16M,action_timeout=20,policy=open
start_node b -o peer=wss://127.0.0.1:$P,max_value=16M,action_timeout=20,policy=open
A=$T/a B=$T/b
check_ok "link up" wait_for 10 links_up a 1

# The listeners log every judgement and every stored update of model Doc:
# "OBJECT/FIELD SIZE". A field named cfg must hold JSON. A field named
# watched is copied, as the listener reads it through the mount, to seen.N.
for n in a b; do
  cat > "$T/$n/.actions/on_update.10-json" <<SH
#!/bin/sh
[ "\$DINEMIC_MODEL" = Doc ] || exit 0
tmp=\$(mktemp)
cat > "\$tmp"
echo "\$DINEMIC_OBJECT/\$DINEMIC_FIELD \$(wc -c < "\$tmp")" >> '$T/judged.$n'
if [ "\$DINEMIC_FIELD" = watched ]; then
  cat "\$DINEMIC_MOUNT/Doc/\$DINEMIC_OBJECT/watched" > '$T/seen.$n'
fi
if [ "\$DINEMIC_FIELD" = cfg ] && ! python3 -c 'import json,sys; json.load(sys.stdin)' < "\$tmp" 2>/dev/null; then
  rm -f "\$tmp"; echo "not JSON" >&2; exit 1
fi
rm -f "\$tmp"
SH
  cat > "$T/$n/.actions/on_updated.10-count" <<SH
#!/bin/sh
[ "\$DINEMIC_MODEL" = Doc ] || exit 0
echo "\$DINEMIC_OBJECT/\$DINEMIC_FIELD \$(wc -c | tr -d ' ')" >> '$T/updated.$n'
SH
  chmod +x "$T/$n/.actions/on_update.10-json" "$T/$n/.actions/on_updated.10-count"
  : > "$T/judged.$n"
  : > "$T/updated.$n"
done
mkdir -p "$A/Doc"

# json FILE SIZE [MARK]: a valid JSON document of about SIZE bytes, in lines
json() {
  python3 - "$1" "$2" "${3:-pad}" <<'PY'
import sys
path, size, mark = sys.argv[1], int(sys.argv[2]), sys.argv[3]
line = '  "' + mark + '-' + 'x' * 50 + '",\n'
n = max(1, (size - 40) // len(line))
with open(path, 'w') as f:
    f.write('{"v": 0,\n "pad": [\n' + line * n + '  "end"]}\n')
PY
}
# lines_for NODE LOG PATH: how many lines of the listeners' LOG name PATH
lines_for() { grep -c "^$3 " "$T/$2.$1"; }
size_of() { stat -c %s "$1"; }
# updated NODE PATH: NODE's after-listener was told of PATH
updated() { [ "$(lines_for "$1" updated "$2")" -ge 1 ]; }
# updates NODE PATH N: how many updates of PATH NODE's after-listeners were
# told of, once there are at least N (they run after the write returns)
at_least() { [ "$(lines_for "$1" updated "$2")" -ge "$3" ]; }
updates() { wait_for 10 at_least "$@"; lines_for "$1" updated "$2"; }

# put TOOL SRC DST: writes SRC's content to DST as TOOL does
put() {
  local tool=$1 src=$2 dst=$3
  case $tool in
    cp) cp "$src" "$dst" ;;
    cat) bash -c 'cat "$1" > "$2"' _ "$src" "$dst" ;;
    dd) dd if="$src" of="$dst" bs=1M status=none ;;
    tee) tee "$dst" < "$src" > /dev/null ;;
    install) install -m 644 "$src" "$dst" ;;
    rsync) rsync "$src" "$dst" ;;
    rsync-inplace) rsync --inplace "$src" "$dst" ;;
    python) python3 -c 'import sys
with open(sys.argv[2], "w") as f:
    f.write(open(sys.argv[1]).read())' "$src" "$dst" ;;
    print) python3 -c 'import sys
with open(sys.argv[2], "w") as f:
    for line in open(sys.argv[1]):
        print(line, end="", file=f)' "$src" "$dst" ;;
    stdio) "$STDIO_PUT" "$src" "$dst" ;;
  esac
}
TOOLS="cp cat dd tee install rsync rsync-inplace python print stdio"
SIZES="1024 204800 1048576 10485760"
# A sanitizer build runs the same code paths several times slower: 10 MiB
# values are left to the plain build.
sanitized_build && SIZES="1024 204800 1048576"

# Each tool, each size: one judgement and one update on A, the value whole
# on B in one update judged once.
for size in $SIZES; do
  json "$T/src.$size" "$size"
done
for tool in $TOOLS; do
  for size in $SIZES; do
    o=$tool-$size
    mkdir "$A/Doc/$o"
    check_ok "$o: $tool succeeds" put "$tool" "$T/src.$size" "$A/Doc/$o/cfg"
    check_ok "$o: the value on A" cmp "$T/src.$size" "$A/Doc/$o/cfg"
    check_eq "$o: judged once on A" "$(lines_for a judged "$o/cfg")" 1
    check_ok "$o: one update on B" wait_for 20 updated b "$o/cfg"
    check_ok "$o: the value on B" cmp "$T/src.$size" "$B/Doc/$o/cfg"
    check_eq "$o: one update stored on A, whole" "$(grep "^$o/cfg " "$T/updated.a")" \
      "$o/cfg $(size_of "$T/src.$size")"
    check_eq "$o: one update on B, whole" "$(grep "^$o/cfg " "$T/updated.b")" \
      "$o/cfg $(size_of "$T/src.$size")"
    check_eq "$o: judged once on B" "$(lines_for b judged "$o/cfg")" 1
  done
done

# Rejected: each tool fails with EPERM, the old value stays on both nodes,
# and no byte of the rejected value is stored on either.
# bad FILE MARK: about 200 KiB that is not JSON, with MARK in it
bad() { json "$1" 204800 "$2"; printf '{' >> "$1"; }
nothing_of() { ! grep -rqa "$1" "$T/a.state" "$T/b.state"; }
for tool in $TOOLS builtin-bash builtin-dash; do
  o=rej-$tool
  mkdir "$A/Doc/$o"
  [ "$tool" = install ] || echo '{}' > "$A/Doc/$o/cfg"
  bad "$T/bad.$tool" "MARK$tool"
  case $tool in
    builtin-bash) cmd=(bash -c 'echo "{MARK$1" > "$2"' _ "$tool" "$A/Doc/$o/cfg") ;;
    builtin-dash) cmd=(dash -c 'printf "{MARK%s" "$1" > "$2"' _ "$tool" "$A/Doc/$o/cfg") ;;
    *) cmd=(put "$tool" "$T/bad.$tool" "$A/Doc/$o/cfg") ;;
  esac
  if [ "$tool" = builtin-dash ]; then
    # dash says "I/O error" whatever the errno: the write(2) must get EPERM
    check_fails "$o: refused" "I/O error" strace -f -e trace=write -o "$T/dash.trace" "${cmd[@]}"
    check_ok "$o: write(2) got EPERM" grep -q "EPERM (Operation not permitted)" "$T/dash.trace"
  else
    check_fails "$o: refused" "Operation not permitted" "${cmd[@]}"
  fi
  if [ "$tool" = install ]; then
    check_ok "$o: nothing created on A" test ! -e "$A/Doc/$o/cfg"
  else
    check_file "$o: old value on A" "$A/Doc/$o/cfg" $'{}\n'
    check_ok "$o: old value on B" wait_for 10 file_is "$B/Doc/$o/cfg" $'{}\n'
  fi
  check_eq "$o: no update but the first" "$(updates a "$o/cfg" "$([ "$tool" = install ] && echo 0 || echo 1)")" \
    "$([ "$tool" = install ] && echo 0 || echo 1)"
  check_ok "$o: nothing of it stored on A or B" nothing_of "MARK$tool"
done
check_ok "B still has the first values" cmp "$T/src.1024" "$B/Doc/cp-1024/cfg"
check_eq "B got no rejected value" "$(grep -c '^rej-' "$T/updated.b")" \
  "$(grep -c '^rej-' "$T/updated.a")"

# Until a value is committed every other reader sees the old one: a listener
# judging it, another process, the peer.
W=$A/Doc/w
mkdir "$W"
echo old > "$W/watched"
echo new > "$W/watched"
check_file "the listener read the old value while judging the new" "$T/seen.a" $'old\n'
cp "$T/src.204800" "$W/watched"
check_file "... and while judging a 200 KiB one" "$T/seen.a" $'new\n'
check_ok "B has it" wait_for 10 updated b w/watched
n=$(updates a w/watched 3)
# slow WRITES: opens FILE, writes 4 blocks, says so in $T/ready, waits for
# $T/go, writes 4 more and closes; its exit status is close's
slow_writer() {
  exec python3 -c 'import os, sys, time
f = open(sys.argv[1], "wb", buffering=0)
for i in range(4): f.write(b"Z" * 8192)
open(sys.argv[2] + "/ready", "w").close()
while not os.path.exists(sys.argv[2] + "/go"): time.sleep(0.05)
for i in range(4): f.write(b"Z" * 8192)
f.close()' "$1" "$T"
}
rm -f "$T/ready" "$T/go"
slow_writer "$W/watched" &
SW=$!
track_pid $SW
check_ok "the writer is half-way" wait_for 10 test -e "$T/ready"
check_ok "another reader on A sees the old value" cmp "$T/src.204800" "$W/watched"
check_eq "... and its size" "$(size_of "$W/watched")" "$(size_of "$T/src.204800")"
check_ok "B sees the old value" cmp "$T/src.204800" "$B/Doc/w/watched"
check_eq "nothing was judged or stored yet" "$(lines_for a judged w/watched):$(lines_for a updated w/watched)" "$n:$n"
touch "$T/go"
wait "$SW"
check_eq "the writer closes with success" $? 0
check_eq "the whole value, one update" "$(head -c 65536 /dev/zero | tr '\0' Z | cmp - "$W/watched" && echo same)" same
check_eq "one more update on A" "$(updates a w/watched $((n + 1)))" $((n + 1))
check_ok "B has the whole value" wait_for 10 file_is "$B/Doc/w/watched" "$(head -c 65536 /dev/zero | tr '\0' Z)"

# A writer killed half-way commits nothing.
n=$(updates a w/watched 4)
rm -f "$T/ready" "$T/go"
slow_writer "$W/watched" &
SW=$!
check_ok "a second writer is half-way" wait_for 10 test -e "$T/ready"
kill -9 $SW
wait $SW 2>/dev/null
check_eq "killed: no update" "$(updates a w/watched "$n")" "$n"
check_eq "killed: the value is the last one" "$(size_of "$W/watched")" 65536

# A shell loop of builtin echos into one redirection: each echo is an update
# of the value so far; a scratch file renamed over the field is one update.
mkdir "$A/Doc/loop"
for i in 1 2 3; do echo "$i"; done > "$A/Doc/loop/f"
check_file "loop: the value" "$A/Doc/loop/f" $'1\n2\n3\n'
check_eq "loop: three updates" "$(updates a loop/f 3)" 3
for i in 1 2 3; do echo "$i"; done > "$A/Doc/loop/.g.new" && mv "$A/Doc/loop/.g.new" "$A/Doc/loop/g"
check_eq "loop into a scratch file, renamed: one update" "$(updates a loop/g 1)" 1
check_ok "B has both" wait_for 10 file_is "$B/Doc/loop/g" $'1\n2\n3\n'

# Editors change a 200 KiB value with one update, judged whole.
mkdir "$A/Doc/ed"
E=$A/Doc/ed/cfg
cp "$T/src.204800" "$E"
nano_keys() {  # nano_keys FILE KEYS...: types KEYS into nano on FILE
  local f=$1 k
  shift
  { sleep 1; for k in "$@"; do printf "$k"; sleep 0.4; done; } | TERM=xterm timeout 20 script -qfec "nano --ignorercfile $f" /dev/null
}
edited() {  # edited WHAT: one more update, whole on A and B
  local want=$(( n + 1 ))
  check_eq "$1: one update" "$(updates a ed/cfg "$want")" "$want"
  check_eq "$1: judged once" "$(lines_for a judged ed/cfg)" "$want"
  check_eq "$1: stored whole" "$(grep "^ed/cfg " "$T/updated.a" | tail -1)" "ed/cfg $(size_of "$E")"
  check_ok "$1: whole on B" wait_for 10 cmp -s "$E" "$B/Doc/ed/cfg"
  n=$want
}
n=$(updates a ed/cfg 1)
check_ok "sed -i" sed -i 's/"v": 0/"v": 1/' "$E"
edited "sed -i"
check_ok "vim" vim -es -u NONE -c '%s/"v": 1/"v": 2/' -c wq "$E"
edited vim
nano_keys "$E" ' ' '\x0f' '\r' '\x18' > "$T/nano.out" 2>&1
check_eq "nano's change (a space before the JSON)" "$(head -c 2 "$E")" ' {'
edited nano
check_fails "sed -i of a bad value" "Operation not permitted" sed -i 's/"v": 2/"v": /' "$E"
check_fails "vim of a bad value" "" vim -es -u NONE -c '%s/"v": 2/"v": /' -c wq "$E"
nano_keys "$E" '{' '\x0f' '\r' '\x18' 'n' > "$T/nano.out" 2>&1
check_ok "nano of a bad value says why" grep -q "Operation not permitted" "$T/nano.out"
check_eq "refused edits: no update" "$(updates a ed/cfg "$n")" "$n"
check_eq "refused edits: the value stays" "$(head -c 2 "$E")" ' {'
check_ok "refused edits: on B too" cmp "$E" "$B/Doc/ed/cfg"

# Appends keep list semantics: one item per write(2) run, from both nodes
# (policy=open lets B append to an object of A).
mkdir "$A/Doc/app"
check_ok "B sees the object" wait_for 10 test -d "$B/Doc/app"
tee -a "$A/Doc/app/list" < "$T/src.204800" > /dev/null
check_eq "tee -a of 200 KiB: one item" "$(updates a app/list 1)" 1
echo fromA >> "$A/Doc/app/list" &
p=$!
echo fromB >> "$B/Doc/app/list"
wait $p
check_ok "both appends survive on A" wait_for 10 grep -q fromB "$A/Doc/app/list"
check_ok "... and on B" wait_for 10 grep -q fromA "$B/Doc/app/list"
check_ok "the same list on both" wait_for 10 cmp -s "$A/Doc/app/list" "$B/Doc/app/list"

# The store grows by about the value's size, not its square: 4 MiB copied
# in as one update per 128 KiB request would store 66 MiB of values. LevelDB
# keeps a value in its log and again in a table until it drops the log:
# allow 5 times the size. The history shows the copy is one update.
head -c 3000000 /dev/urandom | base64 > "$T/rand"
n=$(wc -l < "$A/Doc/w/.history")
before=$(du -sb "$T/a.state" | cut -f1)
cp "$T/rand" "$A/Doc/w/blob"
after=$(du -sb "$T/a.state" | cut -f1)
check_eq "4 MiB copied in: one update" "$(wc -l < "$A/Doc/w/.history")" $((n + 1))
check_ok "... which grows the store by less than 5 times its size" \
  test $((after - before)) -lt $((5 * $(size_of "$T/rand")))

finish
