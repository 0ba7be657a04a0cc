#!/usr/bin/env bash
# JWT sign + verify in extension/core (Google Benchmark) against bare HMAC-SHA256 twice over
# the same token: what the JWT handling costs on top of the cryptography it cannot avoid.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$("$here/../build/jwt_bench" --benchmark_min_time=2 --benchmark_format=csv 2>/dev/null)
# items_per_second is column 7 of Google Benchmark's CSV.
rate() { echo "$out" | awk -F, -v name="\"$1\"" '$1 == name {print $7}'; }
sign_verify=$(rate SignAndVerify)
bare=$(rate BareHmacTwice)
ratio=$(awk "BEGIN {printf \"%.2f\", $sign_verify / $bare}")
printf '| %s | JWT HS256 sign + verify in core, Google Benchmark | %.0f per second (%sx of bare HMAC twice, %.0f per second) | two bare HMAC-SHA256 |\n' \
  "$(date +%F)" "$sign_verify" "$ratio" "$bare" | tee -a "$here/results/jwt.md"
