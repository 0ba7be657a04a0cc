#!/usr/bin/env bash
# Logins are bounded by argon2id by design (m = 19 MiB, t = 2, p = 1). Reports the hash time and
# logins per second through api.login, with pgbench, 2 clients (one per core). The peer is
# the bare argon2id verification of the same password, which a login cannot be faster than.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
db=$BENCH_DATABASE
seconds=${BENCH_SECONDS:-8}

psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
INSERT INTO expense.orgs (org_id, name, base_currency) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Bench', 'EUR')
ON CONFLICT DO NOTHING;
-- One account per client: a login locks its user row while it hashes, so that concurrent
-- failures count correctly; logins of one account are serial by design.
INSERT INTO iam.users (org_id, email, display_name, password_hash)
SELECT '00000000-0000-0000-0000-0000000000a1', 'login' || i || '@bench.test', 'Login ' || i,
       iam.hash_password('correct horse battery')
  FROM generate_series(0, 1) i
ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS public.bench_hash AS SELECT password_hash FROM iam.users WHERE email = 'login0@bench.test';
SQL
hash_ms=$(psql -X -A -t -d "$db" -c "SELECT round(extract(epoch FROM clock_timestamp() - s) * 1000 / 10, 1)
  FROM (SELECT clock_timestamp() AS s) t, LATERAL (SELECT count(iam.verify_password('correct horse battery', password_hash))
  FROM public.bench_hash, generate_series(1, 10)) v")
read -r logins login_p99 < <(pgbench_run login "SELECT api.login('login' || :client_id || '@bench.test', 'correct horse battery');" 2 "$seconds" prepared)
read -r verifies verify_p99 < <(pgbench_run verify "SELECT iam.verify_password('correct horse battery', password_hash) FROM public.bench_hash;" 2 "$seconds" prepared)
psql -X -q -d "$db" -c "DROP TABLE public.bench_hash"
ratio=$(awk "BEGIN {printf \"%.2f\", $logins / $verifies}")
printf '| %s | api.login, pgbench -M prepared, 2 clients, %ds; argon2id verification %s ms | %.1f logins per second, %sx of bare verification (%.1f per second); p99 %s ms | argon2id verification alone |\n' \
  "$(date +%F)" "$seconds" "$hash_ms" "$logins" "$ratio" "$verifies" "$login_p99" | tee -a "$here/results/logins.md"
