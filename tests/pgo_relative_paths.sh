#!/bin/sh
# pgo/relative-paths: the checkout's absolute paths (sources, -I folders) reach the compiler as
# paths relative to the build folder; every other argument, spaces included, passes unchanged.
set -eu
launcher="$(dirname "$0")/../pgo/relative-paths"
fail() { echo "pgo/relative-paths: $1" >&2; exit 1; }
got=$(sh "$launcher" /src/co '..' printf '%s|' -I/src/co/runtime/src -I/usr/include /src/co/runtime/a.cpp \
  '-DNAME="a b"' -o runtime/a.cpp.o /src/cox/b.cpp -specs=/src/co/build/x.specs /src/co)
want='-I../runtime/src|-I/usr/include|../runtime/a.cpp|-DNAME="a b"|-o|runtime/a.cpp.o|/src/cox/b.cpp|-specs=/src/co/build/x.specs|/src/co|'
[ "$got" = "$want" ] || fail "rewrote the arguments as '$got', expected '$want'"
# The command's exit status is the launcher's.
if sh "$launcher" /src/co .. false; then fail "did not pass on a failing command's status"; fi
echo "pgo/relative-paths: ok"
