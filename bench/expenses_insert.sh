#!/usr/bin/env bash
# A million-row INSERT ... SELECT into expense.expenses with every write-time trigger active
# (the C++ rules with their policy cache, and the audit trail), against the same insert into a
# bare table with the same columns, indexes and foreign keys and no triggers. Same run,
# alternating, best of each. The issue's bar: at most 1.3x.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rows=${BENCH_ROWS:-1000000}
rounds=${BENCH_INSERT_ROUNDS:-2}
db=$BENCH_DATABASE

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$here/expense_fixture.sql"

# The rules trigger completes expense.expenses rows with the decimal amount and the base currency;
# the bare table stores the same columns, computed in the SELECT.
insert_into() {
  local extra_columns= extra_values=
  if [ "$1" = public.bare_expenses ]; then
    extra_columns=", amount, base_currency"
    extra_values=", CASE WHEN i % 3 = 2 THEN 100 + i % 50000 ELSE round((100 + i % 50000) / 100.0, 2) END, 'EUR'"
  fi
  cat <<SQL
INSERT INTO $1 (org_id, user_id, category_id, expense_date, merchant, amount_minor, currency$extra_columns)
SELECT '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001',
       ('00000000-0000-0000-0000-0000000000' || lpad(to_hex(1 + i % 8), 2, '0'))::uuid,
       current_date - (i % 60), 'Merchant ' || (i % 1000), 100 + i % 50000, (ARRAY['EUR', 'USD', 'JPY'])[1 + i % 3]$extra_values
  FROM generate_series(1, $rows) i;
SQL
}

seconds() {  # seconds TABLE: one timed insert, then the table is emptied again
  local started ended
  psql -X -q -d "$db" -c "TRUNCATE $1 CASCADE" >/dev/null 2>&1 || true
  psql -X -q -d "$db" -c "CHECKPOINT" >/dev/null
  started=$(date +%s.%N)
  insert_into "$1" | psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null
  ended=$(date +%s.%N)
  awk "BEGIN {printf \"%.2f\", $ended - $started}"
}

# The audit trail is append-only even against TRUNCATE, so expense rows are cleared by a
# superuser session that skips the guard for the benchmark only.
psql -X -q -d "$db" -c "ALTER TABLE expense.expense_events DISABLE TRIGGER append_only"
best_bare= best_rules=
for round in $(seq 1 "$rounds"); do
  t=$(seconds public.bare_expenses)
  if [ -z "$best_bare" ] || awk "BEGIN {exit !($t < $best_bare)}"; then best_bare=$t; fi
  psql -X -q -d "$db" -c "TRUNCATE expense.expense_events" >/dev/null
  t=$(seconds expense.expenses)
  if [ -z "$best_rules" ] || awk "BEGIN {exit !($t < $best_rules)}"; then best_rules=$t; fi
done
psql -X -q -d "$db" -c "TRUNCATE expense.expense_events, expense.expenses" -c "ALTER TABLE expense.expense_events ENABLE TRIGGER append_only" -c "DROP TABLE public.bare_expenses"

ratio=$(awk "BEGIN {printf \"%.2f\", $best_rules / $best_bare}")
printf '| %s | INSERT ... SELECT of %d expenses with the rules trigger and audit trail, best of %d | %sx time (%s s vs %s s) | same insert into a bare table with the same columns, indexes and foreign keys |\n' \
  "$(date +%F)" "$rows" "$rounds" "$ratio" "$best_rules" "$best_bare" | tee -a "$here/results/expenses_insert.md"
