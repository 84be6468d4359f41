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
echo "run_examples: 1 passed, 0 failed"
