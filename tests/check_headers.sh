#!/bin/sh
# SPDX-License-Identifier: MIT
# rill tests: every public header compiles on its own (and twice: include
# guards), with the compiler's warnings as errors.
#   tests/check_headers.sh [INCLUDE_DIR [CFLAGS...]]
# INCLUDE_DIR defaults to $srcdir/include (make check); tests/check_install.sh
# passes the installed one with the flags from pkg-config --cflags rill.
set -eu
dir=${1:-${srcdir:-.}/include}
[ $# -gt 0 ] && shift
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
for h in "$dir"/rill.h "$dir"/rill/*.h; do
  name=${h#"$dir"/}
  printf '#include <%s>\n#include <%s>\nint rill_header_check;\n' \
    "$name" "$name" >"$tmp/h.c"
  if $cc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only \
    -I"$dir" "$@" "$tmp/h.c" 2>"$tmp/err"; then
    n=$((n + 1))
  else
    echo "check_headers: <$name> does not compile on its own:"
    head -n 20 "$tmp/err"
    fail=$((fail + 1))
  fi
done
echo "check_headers: $n compiled alone, $fail failed (in $dir)"
[ "$fail" = 0 ] && [ "$n" -gt 0 ]
