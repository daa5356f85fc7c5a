#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# selftest - proves that scripts/check-structure fails on each kind of
# violation: it passes on a scratch copy of the tree, then each case plants
# one violation in a fresh copy and expects the check to fail, naming it.
# usage: tests/lint/selftest.sh SOURCE_ROOT LIBDFS.a
set -uo pipefail

src=$1
lib=$(realpath "$2")
check=$src/scripts/check-structure
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0

fresh() { # copy the tree's src/ and include/ into $scratch/t
  rm -rf "$scratch/t"
  mkdir -p "$scratch/t"
  cp -r "$src/src" "$src/include" "$scratch/t/"
  extra=()
}

expect() { # NAME ok|fail PATTERN: runs the check on $scratch/t
  local name=$1 want=$2 pattern=$3 out rc
  out=$("$check" --lib "$lib" "${extra[@]}" "$scratch/t" 2>&1)
  rc=$?
  if { [ "$want" = ok ] && [ $rc -eq 0 ]; } ||
    { [ "$want" = fail ] && [ $rc -ne 0 ] && grep -q -- "$pattern" <<<"$out"; }; then
    echo "ok - $name"
    passed=$((passed + 1))
  else
    echo "not ok - $name (exit $rc)"
    sed 's/^/#   /' <<<"$out"
    failed=$((failed + 1))
  fi
}

plant_include() { # FILE LINE: adds LINE after the file's first #include
  sed -i "0,/^#include/s||$2\n&|" "$scratch/t/$1"
}

fresh
expect "the tree as it is passes" ok ""

fresh
yes '/* padding */' | head -n 801 >>"$scratch/t/src/util/hex.c"
expect "a source file over 800 lines" fail "size: src/util/hex.c"

fresh
{
  printf 'int dfs_long(void);\nint dfs_long(void)\n{\n\tint n = 0;\n'
  yes $'\tn++;' | head -n 60
  printf '\treturn n;\n}\n'
} >>"$scratch/t/src/util/hex.c"
expect "a function over 60 lines" fail "size: src/util/hex.c: dfs_long() has 64 lines"

fresh
plant_include src/store/store.c '#include "dinemicfs/db.h"'
expect "store including the model" fail "layers: src/store/store.c (store) includes dinemicfs/db.h"

fresh
plant_include src/repl/addr.c '#include "dinemicfs/fs.h"'
expect "repl including fs" fail "never include each other"

fresh
plant_include src/fs/scratch.c '#include "dinemicfs/actions.h"'
expect "fs including actions" fail "never include each other"

fresh
plant_include include/dinemicfs/update.h '#include "dinemicfs/store.h"'
expect "a codec header including the store" fail "layers: include/dinemicfs/update.h"

fresh
plant_include src/util/buf.c '#include "../model/internal.h"'
expect "a private header from another folder" fail "private headers come from"

fresh
plant_include src/fs/scratch.c '#include <libwebsockets.h>'
expect "libwebsockets outside repl" fail "adapters: src/fs/scratch.c uses libwebsockets.h"

fresh
plant_include src/model/hlc.c '#include <leveldb/c.h>'
expect "leveldb outside store" fail "adapters: src/model/hlc.c uses leveldb/c.h"

fresh
plant_include src/util/buf.c '#include <sodium.h>'
expect "libsodium outside crypto" fail "adapters: src/util/buf.c uses sodium.h"

fresh
plant_include src/repl/net.c '#include <openssl/ssl.h>'
expect "OpenSSL outside crypto/tls.c" fail "adapters: src/repl/net.c uses OpenSSL"

fresh
echo 'void f(void) { fuse_reply_err(0, 0); }' >>"$scratch/t/src/fs/meta.c"
expect "a FUSE reply outside ops.c" fail "adapters: src/fs/meta.c uses fuse_reply_"

fresh
echo 'int x;' >"$scratch/t/src/model/stray.c"
echo 'int x;' >"$scratch/t/src/stray.c"
expect "a source file with no layer" fail "layers: src/stray.c has no layer"

fresh
sed -i "/'model\/rec.c',/d; s|'model/authz.c',|&\n  'model/rec.c',|" "$scratch/t/src/meson.build"
expect "a file calling one listed after it in its folder" fail \
  "order: model/db.c calls db_.* of model/rec.c, which src/meson.build lists after it"

fresh
printf 'int helper_count(void) { return 1; }\n' >"$scratch/bad.c"
# (meson's libraries are thin archives, so the stray object goes in one of its own)
if cc -c -o "$scratch/bad.o" "$scratch/bad.c" && ar rcs "$scratch/bad.a" "$scratch/bad.o"; then
  extra=(--lib "$scratch/bad.a")
  expect "a global symbol without a module prefix" fail "symbols: .*helper_count"
else
  echo "not ok - could not build a library with a stray symbol"
  failed=$((failed + 1))
fi

echo "1..$((passed + failed))"
[ "$failed" -eq 0 ]
