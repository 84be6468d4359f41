#!/bin/sh
# SPDX-License-Identifier: MIT
# rill tests: every source file starts with its license line,
# "SPDX-License-Identifier: MIT", on line 1 (line 2 after a "#!" line).
# Checks the files git tracks when the source tree is a git checkout, else
# (a release tarball) every such file in the tree.
set -eu
top=${srcdir:-.}
cd "$top"
list() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
    [ "$(git rev-parse --show-toplevel)" = "$(pwd -P)" ]; then
    git ls-files
  else
    # (not what autotools copied in, nor make distcheck's build and
    # install directories)
    find . -type f ! -path './build-aux/*' ! -path './autom4te.cache/*' \
      ! -path './_build/*' ! -path './_inst/*' | sed 's|^\./||'
  fi
}
n=0
bad=0
for f in $(list | grep -E '(^|/)(configure\.ac|dev|[^/]*\.(c|h|am|sh))$'); do
  [ -f "$f" ] || continue # deleted but still tracked
  n=$((n + 1))
  if ! head -n 2 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
    echo "check_spdx: $f: no 'SPDX-License-Identifier: MIT' line at the top"
    bad=$((bad + 1))
  fi
done
echo "check_spdx: $n files, $bad without the license line"
[ "$bad" = 0 ] && [ "$n" -gt 0 ]
