#!/usr/bin/env bash
# Installs the oldest shipped version, updates it to the newest with ALTER EXTENSION UPDATE,
# and compares the result with a fresh install of the newest version, object by object.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

versions=$(ls "$root"/migrations/expense_ops--*.sql | sed -n 's|.*/expense_ops--\([^-]*\)\.sql$|\1|p' | sort -V)
oldest=$(echo "$versions" | head -n 1)
newest=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/extension/expense_ops.control")
echo "oldest shipped version: $oldest; default version: $newest"

for database in expense_ops_fresh expense_ops_upgraded; do
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
done
psql -X -q -v ON_ERROR_STOP=1 -d expense_ops_fresh -c "CREATE EXTENSION expense_ops"
psql -X -q -v ON_ERROR_STOP=1 -d expense_ops_upgraded \
  -c "CREATE EXTENSION expense_ops VERSION '$oldest'" -c "ALTER EXTENSION expense_ops UPDATE"

fresh=$(mktemp)
upgraded=$(mktemp)
trap 'rm -f "$fresh" "$upgraded"' EXIT
psql -X -q -A -t -v ON_ERROR_STOP=1 -d expense_ops_fresh -f "$root/scripts/schema-fingerprint.sql" >"$fresh"
psql -X -q -A -t -v ON_ERROR_STOP=1 -d expense_ops_upgraded -f "$root/scripts/schema-fingerprint.sql" >"$upgraded"
for database in expense_ops_fresh expense_ops_upgraded; do
  psql -X -q -d postgres -c "DROP DATABASE $database"
done

[ -s "$fresh" ] || { echo "empty fingerprint"; exit 1; }
echo "$(wc -l <"$fresh") fingerprint lines"
diff -u "$fresh" "$upgraded"
