#!/usr/bin/env bash
# The single-row write path, in the database only: 20 000 single-row INSERTs in one session, as
# expense_user with a user's claims, from a PL/pgSQL loop, so no client round trip is measured.
#   api:    INSERT INTO api.expenses (the API's view: its trigger, row-level security, the C++
#           rules and the audit trail);
#   peer:   the same physical work bare: one CTE inserting into a bare table with the same
#           columns, indexes and foreign keys, and the matching row into a bare copy of the
#           audit trail;
#   bare:   the bare insert alone, for context.
# Alternating rounds, best of each. The issue's bar: api <= 1.5x the peer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rows=${BENCH_SINGLE_ROWS:-20000}
rounds=${BENCH_SINGLE_ROUNDS:-3}
db=$BENCH_DATABASE

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$here/expense_fixture.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
DROP TABLE IF EXISTS public.bare_events;
CREATE TABLE public.bare_events (LIKE expense.expense_events INCLUDING ALL);
GRANT INSERT, SELECT ON public.bare_expenses, public.bare_events TO expense_user;
GRANT USAGE ON SEQUENCE public.bare_events_event_id_seq TO expense_user;
SQL

# micros_per_row STATEMENT: one round of the loop, as the user; prints microseconds per row.
micros_per_row() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" <<SQL | tail -n 1
TRUNCATE public.bare_expenses, public.bare_events;
ALTER TABLE expense.expense_events DISABLE TRIGGER append_only;
TRUNCATE expense.expense_events, expense.expenses;
ALTER TABLE expense.expense_events ENABLE TRIGGER append_only;
CHECKPOINT;
SET ROLE expense_user;
SELECT set_config('request.jwt.claims', '{"role": "expense_user", "sub": "00000000-0000-0000-0000-000000000001"}', false) IS NULL;
CREATE TEMP TABLE IF NOT EXISTS round (micros numeric);
DO \$\$
DECLARE
  started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..$rows LOOP
    $1;
  END LOOP;
  INSERT INTO round VALUES (extract(epoch FROM clock_timestamp() - started) * 1e6 / $rows);
END
\$\$;
SELECT round(micros, 1) FROM round;
SQL
}

api="INSERT INTO api.expenses (category_id, expense_date, merchant, amount, currency)
     VALUES ('00000000-0000-0000-0000-000000000001', current_date, 'Merchant ' || i % 1000, 12.30, 'EUR')"
peer="WITH written AS (
       INSERT INTO public.bare_expenses (org_id, user_id, category_id, expense_date, merchant, amount_minor, currency, amount, base_currency)
       VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001',
               '00000000-0000-0000-0000-000000000001', current_date, 'Merchant ' || i % 1000, 1230, 'EUR', 12.30, 'EUR')
       RETURNING org_id, expense_id, user_id, status)
     INSERT INTO public.bare_events (org_id, expense_id, owner_id, actor_id, action, to_status)
     SELECT org_id, expense_id, user_id, user_id, 'create', status FROM written"
bare="INSERT INTO public.bare_expenses (org_id, user_id, category_id, expense_date, merchant, amount_minor, currency, amount, base_currency)
      VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001',
              '00000000-0000-0000-0000-000000000001', current_date, 'Merchant ' || i % 1000, 1230, 'EUR', 12.30, 'EUR')"

best_api= best_peer= best_bare=
keep_best() {  # keep_best VARIABLE VALUE
  if [ -z "${!1}" ] || awk "BEGIN {exit !($2 < ${!1})}"; then printf -v "$1" '%s' "$2"; fi
}
for round in $(seq 1 "$rounds"); do
  keep_best best_bare "$(micros_per_row "$bare")"
  keep_best best_peer "$(micros_per_row "$peer")"
  keep_best best_api "$(micros_per_row "$api")"
done
psql -X -q -d "$db" -c "ALTER TABLE expense.expense_events DISABLE TRIGGER append_only" \
  -c "TRUNCATE expense.expense_events, expense.expenses" \
  -c "ALTER TABLE expense.expense_events ENABLE TRIGGER append_only" \
  -c "DROP TABLE public.bare_events, public.bare_expenses"

printf '| %s | %d single-row INSERTs into api.expenses in one session as expense_user, a PL/pgSQL loop, best of %d | %.2fx time (%s us vs %s us a row); the bare insert alone %s us | the same bare insert plus its bare audit row, one CTE |\n' \
  "$(date +%F)" "$rows" "$rounds" "$(awk "BEGIN {print $best_api / $best_peer}")" "$best_api" "$best_peer" "$best_bare" |
  tee -a "$here/results/expenses_single_row.md"
