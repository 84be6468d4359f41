#!/bin/sh
# SPDX-License-Identifier: MIT
# rill tests: the installed library, used the way a user does -- through
# pkg-config only.  Run by make installcheck (hence by make distcheck) with
# PKG_CONFIG_PATH pointing at the installed rill.pc.
#   1. every installed header compiles on its own (tests/check_headers.sh),
#      and every header under include/ is installed;
#   2. the README's programs build and link with
#      `pkg-config --cflags --libs rill` alone, run, and print what the
#      README says they print.  A program is a ```c block right after a
#      line `<!-- test: NAME.c -->`; its expected output is the block right
#      after `<!-- test: NAME.c prints -->`.  So the README cannot drift.
#      A block after `<!-- build: NAME.c -->` is only built and linked (a
#      program that needs a server to run, such as the Redis worker).
# Environment: CC (default cc), srcdir (default .), PKG_CONFIG (pkg-config).
set -eu
srcdir=${srcdir:-.}
cc=${CC:-cc}
pc=${PKG_CONFIG:-pkg-config}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "check_install: FAIL: $*"
  exit 1
}

command -v "$pc" >/dev/null 2>&1 ||
  fail "pkg-config not found (Debian package pkg-config)"
"$pc" --exists rill ||
  fail "pkg-config finds no rill (PKG_CONFIG_PATH=${PKG_CONFIG_PATH:-})"
cflags=$("$pc" --cflags rill)
libs=$("$pc" --libs rill)
incdir=$("$pc" --variable=includedir rill)
libdir=$("$pc" --variable=libdir rill)
echo "check_install: rill $("$pc" --modversion rill): cflags '$cflags' libs '$libs'"

# 1. headers
# shellcheck disable=SC2086 # $cflags is a list of flags
CC=$cc sh "$srcdir/tests/check_headers.sh" "$incdir" $cflags
for h in "$srcdir"/include/rill.h "$srcdir"/include/rill/*.h; do
  name=${h#"$srcdir"/include/}
  [ -f "$incdir/$name" ] || fail "include/$name is not installed"
done

# 2. the README's programs
awk -v dir="$tmp" '
  /^<!-- test: [A-Za-z0-9_]+\.c( prints)? -->$/ {
    want = $3; if ($4 == "prints") want = want ".out"
    next
  }
  /^<!-- build: [A-Za-z0-9_]+\.c -->$/ { want = "build-" $3; next }
  want != "" && !inblock && /^```/ { inblock = 1; file = dir "/" want; next }
  inblock && /^```$/ { inblock = 0; close(file); want = ""; next }
  inblock { print > file; next }
  { want = "" }
' "$srcdir/README.md"
n=0
for src in "$tmp"/*.c; do
  [ -f "$src" ] || fail "no <!-- test: NAME.c --> block found in README.md"
  name=$(basename "$src" .c)
  case $name in build-*) continue ;; esac
  [ -f "$tmp/$name.c.out" ] || fail "README.md: $name.c has no 'prints' block"
  # shellcheck disable=SC2086
  $cc -Wall -Werror $cflags -o "$tmp/$name" "$src" $libs ||
    fail "README.md's $name.c does not build with pkg-config --cflags --libs rill"
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$tmp/$name" >"$tmp/$name.got" || fail "README.md's $name.c exited with $?"
  diff -u "$tmp/$name.c.out" "$tmp/$name.got" ||
    fail "README.md's $name.c does not print what the README says"
  echo "check_install: README.md's $name.c builds, links, runs and prints as documented"
  n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "expected at least 2 README programs, found $n"
for src in "$tmp"/build-*.c; do
  [ -f "$src" ] || break
  name=$(basename "$src" .c)
  name=${name#build-}
  # shellcheck disable=SC2086
  $cc -Wall -Werror $cflags -o "$tmp/$name" "$src" $libs ||
    fail "README.md's $name.c does not build with pkg-config --cflags --libs rill"
  echo "check_install: README.md's $name.c builds and links (not run)"
done

# 3. the runtime version is the headers' and pkg-config's
cat >"$tmp/version.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <rill.h>
int main(void) {
  printf("%s\n", rill_version());
  return strcmp(rill_version(), RILL_VERSION_STRING) != 0 ||
         rill_version_number() != RILL_VERSION_HEX;
}
PROG
# shellcheck disable=SC2086
$cc -Wall -Werror $cflags -o "$tmp/version" "$tmp/version.c" $libs
v=$(LD_LIBRARY_PATH="$libdir" "$tmp/version") ||
  fail "rill_version() differs from the installed headers' version"
[ "$v" = "$("$pc" --modversion rill)" ] ||
  fail "rill_version() is $v, pkg-config says $("$pc" --modversion rill)"
# 4. the Redis connector: when this build has it (pkg-config's `redis`
#    variable), a program using it builds and links with pkg-config alone
#    (and against the static library with --static, when installed).
redis=$("$pc" --variable=redis rill)
if [ "$redis" = yes ]; then
  cat >"$tmp/redis.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <rill/ev.h>
#include <rill/redis.h>
int main(void) {
  rill_sched_t *s = rill_sched_ev_new(EV_DEFAULT);
  rill_redis_conn_t conn = {.address = "/nonexistent/redis.sock"};
  rill_observable_t *src = rill_redis_source(s, &conn, "readings", "workers",
                                             "w1", NULL);
  const char *fields[] = {"sensor"}, *values[] = {"t1"};
  rill_value_t m;
  int rc = rill_redis_msg_new(1, fields, values, NULL, &m);
  int ok = rill_redis_available() && src != NULL && rc == 0 &&
           strcmp(rill_redis_msg_get(m, "sensor", NULL), "t1") == 0;
  rill_value_release(m);
  rill_observable_free(src);
  printf("%s\n", ok ? "redis ok" : "redis broken");
  return !(ok && rill_sched_free(s) == 0);
}
PROG
  # shellcheck disable=SC2086
  $cc -Wall -Werror $cflags -o "$tmp/redis" "$tmp/redis.c" $libs ||
    fail "a program using rill/redis.h does not link with pkg-config --cflags --libs rill"
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$tmp/redis" >/dev/null || fail "the Redis connector program failed"
  if [ -f "$libdir/librill.a" ]; then
    # shellcheck disable=SC2086
    $cc -Wall -Werror $cflags -o "$tmp/redis-static" "$tmp/redis.c" \
      "$libdir/librill.a" $("$pc" --static --libs rill) ||
      fail "a program using rill/redis.h does not link statically with pkg-config --static --libs rill"
    "$tmp/redis-static" >/dev/null || fail "the static Redis program failed"
  fi
  echo "check_install: a program using the Redis connector links through pkg-config"
fi

echo "check_install: passed ($n README programs, version $v)"
