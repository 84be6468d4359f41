#!/bin/sh
# rill tests: run the examples and check what they print.
set -eu
bin="${top_builddir:-.}/examples"
out=$("$bin/pipeline")
echo "$out"
echo "$out" | grep -q "^window 1: running max 21.5 21.7 22.1 22.1$"
echo "$out" | grep -q "^complete$"
echo "$out" | grep -q "take(5): 100 101 102 200 201 -> complete$"
echo "$out" | grep -q "2 values, then error in stage map"
# socket_feed: a TCP feed on 127.0.0.1 through from_fd -> lines -> parse ->
# filter -> scan; then again with a slow consumer, which must push the
# feeder back (EAGAIN) instead of buffering.
out=$("$bin/socket_feed" --count 2000)
echo "$out"
echo "$out" | grep -q "^feed ended: end of feed$"
echo "$out" | grep -q "^lines: 2000, malformed: 40, out of range: 20, accepted: 1940$"
out=$("$bin/socket_feed" --slow --duration-ms 400)
echo "$out"
echo "$out" | grep -q "^feed ended: duration reached$"
echo "$out" | grep -q "^feeder was pushed back: yes$"
# throttle_demo: the README's main demo, for one second on libev; rates
# depend on the machine's load, so check the shape and the clean exit.
out=$("$bin/throttle_demo" --duration 1)
echo "$out"
echo "$out" | grep -Eq "^gps +in +[0-9]+/s -> throttle\(500ms\) +[0-9]+/s$"
echo "$out" | grep -Eq "^accel +in +[0-9]+/s -> throttle\(100ms\) +[0-9]+/s$"
echo "$out" | grep -Eq "^motion +in +[0-9]+/s -> debounce\(50ms\) +[0-9]+/s$"
echo "$out" | grep -q "active watchers after cancel: 0$"
echo "run_examples: 3 passed, 0 failed"
