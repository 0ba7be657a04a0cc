#!/usr/bin/env bash
# A help for writing an update script: prints, as CREATE OR REPLACE statements, every function
# whose definition in the generated full script differs from the previous version's (reached
# through the update chain), and names the functions added and dropped. Review what it prints
# before pasting any of it into migrations/: the update script stays hand-written, and the
# upgrade test (test/integration/upgrade_path.sh) checks the result.
#   scripts/changed-functions.sh PREVIOUS_VERSION     (PGHOST/PGPORT name a running cluster)
set -euo pipefail
previous=${1:?usage: scripts/changed-functions.sh PREVIOUS_VERSION}
for database in expense_ops_previous expense_ops_current; do
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
done
trap 'for d in expense_ops_previous expense_ops_current; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d"; done' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d expense_ops_previous -c "CREATE EXTENSION expense_ops VERSION '$previous'"
psql -X -q -v ON_ERROR_STOP=1 -d expense_ops_current -c "CREATE EXTENSION expense_ops"
definitions() {
  psql -X -A -t -d "$1" -c "SELECT p.oid::regprocedure || '|' || md5(pg_get_functiondef(p.oid))
    FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'expense_ops' ORDER BY 1"
}
previous_list=$(definitions expense_ops_previous)
current_list=$(definitions expense_ops_current)
echo "-- dropped since $previous:"
comm -23 <(echo "$previous_list" | cut -d'|' -f1 | sort) <(echo "$current_list" | cut -d'|' -f1 | sort) | sed 's/^/--   /'
echo "-- added since $previous:"
comm -13 <(echo "$previous_list" | cut -d'|' -f1 | sort) <(echo "$current_list" | cut -d'|' -f1 | sort) | sed 's/^/--   /'
echo "-- changed since $previous:"
comm -13 <(echo "$previous_list" | sort) <(echo "$current_list" | sort) | cut -d'|' -f1 |
  while read -r function; do
    grep -qF "$function|" <<<"$previous_list" || continue
    psql -X -A -t -d expense_ops_current -c "SELECT pg_get_functiondef('$function'::regprocedure) || ';'"
  done
