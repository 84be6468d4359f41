#!/bin/sh
# SPDX-License-Identifier: MIT
# rill tests: run the examples and check what they print.
# RILL_RUN_PREFIX: a command to run each example under, e.g.
#   RILL_RUN_PREFIX="valgrind --error-exitcode=1 --leak-check=full"
# (make check-valgrind does this); its failure fails the script.
set -eu
bin="${top_builddir:-.}/examples"
run=${RILL_RUN_PREFIX:-}
out=$($run "$bin/pipeline")
echo "$out"
echo "$out" | grep -q "^window 1: running max 21.5 21.7 22.1 22.1$"
echo "$out" | grep -q "^complete$"
echo "$out" | grep -q "take(5): 100 101 102 200 201 -> complete$"
echo "$out" | grep -q "2 values, then error in stage map"
# socket_feed: a TCP feed on 127.0.0.1 through from_fd -> lines -> parse ->
# filter -> share -> scan, and a keyed throttle on the share; then again
# with a slow consumer, which must push the feeder back (EAGAIN) instead
# of buffering.
out=$($run "$bin/socket_feed" --count 2000)
echo "$out"
echo "$out" | grep -q "^feed ended: end of feed$"
echo "$out" | grep -q "^lines: 2000, malformed: 40, out of range: 20, accepted: 1940$"
# the keyed throttle (group_by + merge_map + throttle) on a share of the
# feed: every accepted reading goes in, each sensor shows at least once
echo "$out" | grep -Eq "^keyed throttle \(500 ms per sensor\): 1940 readings in, [0-9]+ shown$"
for i in 1 2 3 4; do
  echo "$out" | grep -Eq "^sensor $i: [0-9.]+ \(keyed throttle: one per sensor per 500 ms\)$"
done
out=$($run "$bin/socket_feed" --slow --duration-ms 400)
echo "$out"
echo "$out" | grep -q "^feed ended: duration reached$"
echo "$out" | grep -q "^feeder was pushed back: yes$"
echo "$out" | grep -Eq "^keyed throttle \(500 ms per sensor\): [0-9]+ readings in, [0-9]+ shown$"
# throttle_demo: the README's main demo, for one second on libev; rates
# depend on the machine's load, so check the shape and the clean exit.
out=$($run "$bin/throttle_demo" --duration 1)
echo "$out"
echo "$out" | grep -Eq "^gps +in +[0-9]+/s -> throttle\(500ms\) +[0-9]+/s$"
echo "$out" | grep -Eq "^accel +in +[0-9]+/s -> throttle\(100ms\) +[0-9]+/s$"
echo "$out" | grep -Eq "^motion +in +[0-9]+/s -> debounce\(50ms\) +[0-9]+/s$"
echo "$out" | grep -q "active watchers after cancel: 0$"
# job_pool: 100 jobs on libev, at most 4 at a time (merge_map, the p-limit
# pattern), then in input order (concat_map_eager).  It checks its own
# invariants and exits 1 if one fails; timings vary, so check the shape.
out=$($run "$bin/job_pool" --jobs 100 --limit 4 --seed 1)
echo "$out"
test "$(echo "$out" | grep -c '^\[ *[0-9]* ms\] start job ')" -eq 100
test "$(echo "$out" | grep -c '^\[ *[0-9]* ms\]  done job ')" -eq 100
if echo "$out" | grep -Eq "in flight ([5-9]|[0-9]{2,})$"; then exit 1; fi
echo "$out" | grep -q "^merge_map: 100 results, one per job; at most 4 in flight; "
echo "$out" | grep -q "^concat_map_eager: 100 results, one per job, in input order; at most 4 in flight; "
echo "$out" | grep -q "^jobs  90..99 : 8100 8281 8464 8649 8836 9025 9216 9409 9604 9801$"
echo "$out" | grep -q "^job_pool: ok "
# pairwise: an operator written with the public API only (rill_create_with),
# the worked example of docs/writing-operators.md; it checks itself.
out=$($run "$bin/pairwise")
echo "$out"
echo "$out" | grep -q "^\[1,2\] \[2,3\] \[3,4\] \[4,5\] done$"
echo "$out" | grep -q "^pairwise: ok$"
# resilient_fetch: 100 requests with timeout, breaker, retry with backoff
# and fallback, then all / allSettled / race / any; timings vary, so check
# the shape; it checks that every request was answered exactly once.
out=$($run "$bin/resilient_fetch" --seed 1)
echo "$out"
echo "$out" | grep -Eq "^100 requests: [0-9]+ calls, [0-9]+ rejected by the breaker, [0-9]+ retries, [0-9]+ fallbacks$"
echo "$out" | grep -q "breaker CLOSED -> OPEN$"
echo "$out" | grep -q "^all  *error: service unavailable$"
echo "$out" | grep -q "^allSettled  *0 failed 20 failed 40$"
echo "$out" | grep -Eq "^race  *([0-9]+|error: service unavailable)$"
echo "$out" | grep -Eq "^any  *(0|20|40)$"
echo "$out" | grep -q "^resilient_fetch: ok "
# sensor_gateway: TCP accept -> lines per connection -> parse -> group_by
# (sensor) -> throttle and a one-second average per sensor, fed by its own
# load generator on loopback; it checks that every line is accounted for
# and exits 1 otherwise.  Timings vary, so check the shape.
gateway_shape() {
  echo "$1" | grep -Eq '^sensor_gateway: 127\.0\.0\.1:[0-9]+, 4 clients for [0-9.]+ s; SIGINT stops it$'
  for i in 1 2 3 4; do
    echo "$1" | grep -Eq "^\[[0-9]+\.[0-9] s\] s$i: [0-9]+ readings?, avg 2[0-9]\.[0-9][0-9]$"
  done
  # the pending averages are flushed after the input closed
  echo "$1" | sed -n '/: input closed, flushing$/,$p' | grep -Eq '^\[[0-9.]+ s\] s[1-4]: [0-9]+ readings?, avg '
  echo "$1" | grep -Eq '^load: [0-9]+ lines sent \([0-9]+ malformed\) on 4 connections$'
  echo "$1" | grep -Eq '^gateway: [0-9]+ lines = [0-9]+ readings \+ [0-9]+ malformed, on [0-9]+ connections$'
  test "$(echo "$1" | grep -Ec '^  s[1-4]: [0-9]+ sent, [0-9]+ received -> throttle\(100 ms\) -> [0-9]+ averaged$')" -eq 4
  echo "$1" | grep -q "^sensor_gateway: ok$"
}
out=$($run "$bin/sensor_gateway" --duration 2.5)
echo "$out"
gateway_shape "$out"
echo "$out" | grep -Eq '^\[(2\.[5-9]|[3-9]\.[0-9]|[0-9]{2,}\.[0-9]) s\] the clients hung up: input closed, flushing$'
# Stopped by SIGINT (rill_signal + take_until): once a first average is
# out, half a second later; it must flush and exit 0 with its summary.
tmp=$(mktemp "${TMPDIR:-/tmp}/rill-sensor_gateway.XXXXXX")
$run "$bin/sensor_gateway" --duration 600 >"$tmp" &
pid=$!
i=0
until grep -q 'readings*, avg' "$tmp"; do
  i=$((i + 1))
  if [ $i -gt 1200 ]; then kill $pid; cat "$tmp"; rm -f "$tmp"; exit 1; fi
  sleep 0.1
done
sleep 0.5
kill -INT $pid
i=0
while kill -0 $pid 2>/dev/null; do # it must end by itself, and soon
  i=$((i + 1))
  if [ $i -gt 600 ]; then kill -KILL $pid; cat "$tmp"; rm -f "$tmp"; exit 1; fi
  sleep 0.1
done
rc=0
wait $pid || rc=$?
out=$(cat "$tmp")
rm -f "$tmp"
echo "$out"
test $rc -eq 0
gateway_shape "$out"
echo "$out" | grep -Eq '^\[[0-9.]+ s\] SIGINT: input closed, flushing$'
# redis_workers (built with the Redis connector only): a producer and 3
# worker processes on one stream and consumer group, worker 2 killed with
# SIGKILL mid-run; the others claim its pending readings.  It starts its
# own redis-server and reports itself skipped without one (exit 1 under
# CI); it checks that every reading was processed, so check the shape.
passed=7
if [ -x "$bin/redis_workers" ]; then
  out=$($run "$bin/redis_workers")
  echo "$out"
  if echo "$out" | grep -q "^redis_workers: skipped: "; then
    echo "run_examples: redis_workers skipped (no redis-server)"
  else
    echo "$out" | grep -q '^redis_workers: a redis-server of its own on .*/redis\.sock, stream "readings"$'
    echo "$out" | grep -Eq '^\[ *[0-9]+ ms\] killed worker 2 \(SIGKILL\) after [0-9]+ readings; [0-9]+ readings it had received stay pending$'
    echo "$out" | grep -Eq '^\[ *[0-9]+ ms\] producer done: 2400 readings added$'
    echo "$out" | grep -Eq '^\[ *[0-9]+ ms\] every reading processed, none pending: stopping the workers$'
    for i in 1 3; do
      echo "$out" | grep -Eq "^  worker $i: [0-9]+ readings \([0-9]+ redelivered\); averages s1 [0-9.]+ s2 [0-9.]+ s3 [0-9.]+ s4 [0-9.]+$"
    done
    echo "$out" | grep -Eq '^  worker 2: killed \(SIGKILL\) after [0-9]+ readings$'
    echo "$out" | grep -q "^  s1: 600 readings, average 20.00; the producer sent 600, average 20.00$"
    echo "$out" | grep -q "^  s4: 600 readings, average 26.00; the producer sent 600, average 26.00$"
    echo "$out" | grep -Eq '^readings: 2400 produced, 2400 processed at least once, [0-9]+ processings \([0-9]+ redelivered after being taken over, [0-9]+ processed twice\), 0 pending$'
    echo "$out" | grep -q "^redis_workers: ok: every reading was processed at least once$"
    passed=8
  fi
else
  echo "run_examples: redis_workers not built (rill without hiredis)"
fi
echo "run_examples: $passed passed, 0 failed"
