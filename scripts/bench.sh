#!/usr/bin/env bash
# `make bench`: every benchmark, one after another. Each part prints its own table; numbers go
# into the README's benchmark table with the machine they were taken on. The machine is noisy:
# run twice and report both.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for part in runtime queue rpc redis amqp beanstalkd python client; do
  script="scripts/bench-$part.sh"
  [ -x "$script" ] || continue
  echo "=== $part ==="
  "$script" || { echo "bench $part failed" >&2; status=1; }
done
# Instructions per task (valgrind): the number that does not move with the machine's noise.
if command -v valgrind >/dev/null; then
  echo "=== callgrind ==="
  scripts/callgrind.sh || { echo "bench callgrind failed" >&2; status=1; }
else
  echo "=== callgrind skipped: no valgrind (apt-get install -y valgrind) ==="
fi
exit $status
