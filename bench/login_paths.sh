#!/usr/bin/env bash
# What a refused login costs, path by path: an unknown email, a wrong password, an over-long
# password (5000 bytes) and a wrong password on an imported bcrypt account (cost 10), each through
# api.login with pgbench (1 client, so the paths do not queue behind each other's address lock).
# The peer is the wrong-password path: each ratio says how far a path's timing tells it apart.
# The unit test test/unit/login_test.cpp proves that each path performs exactly one argon2id
# computation; this shows what that means in milliseconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
db=$BENCH_DATABASE
seconds=${BENCH_SECONDS:-6}

# A bcrypt hash at cost 10, as an export from another system carries it ("correct horse battery").
bcrypt=$(/usr/bin/python3 -W ignore -c 'import crypt; print(crypt.crypt("correct horse battery", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10)))' 2>/dev/null)
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v bcrypt="$bcrypt" <<'SQL'
INSERT INTO expense.orgs (org_id, name, base_currency) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Bench', 'EUR')
ON CONFLICT DO NOTHING;
INSERT INTO iam.users (org_id, email, display_name, password_hash) VALUES
  ('00000000-0000-0000-0000-0000000000a1', 'paths-argon2@bench.test', 'Argon2', iam.hash_password('correct horse battery')),
  ('00000000-0000-0000-0000-0000000000a1', 'paths-bcrypt@bench.test', 'Bcrypt', :'bcrypt')
ON CONFLICT DO NOTHING;
-- The lockout and the address throttle would change the path after a few failures: lift both
-- for the run, so that every attempt takes the path it is named for.
UPDATE iam.auth_settings SET address_failure_limit = 1000000000;
SQL
unlock="UPDATE iam.users SET failed_logins = 0, lock_count = 0, locked_until = NULL WHERE email LIKE 'paths-%';"
declare -A sql=(
  [unknown]="SELECT api.login('nobody@bench.test', 'correct horse battery');"
  [wrong]="$unlock SELECT api.login('paths-argon2@bench.test', 'wrong horse battery');"
  [overlong]="$unlock SELECT api.login('paths-argon2@bench.test', repeat('x', 5000));"
  [bcrypt]="$unlock SELECT api.login('paths-bcrypt@bench.test', 'wrong horse battery');"
)
declare -A tps
for path in wrong unknown overlong bcrypt; do
  read -r tps[$path] _ < <(pgbench_run "login-$path" "${sql[$path]}" 1 "$seconds" prepared)
done
psql -X -q -d "$db" -c "UPDATE iam.auth_settings SET address_failure_limit = 20" \
  -c "DELETE FROM iam.users WHERE email LIKE 'paths-%'" -c "DELETE FROM iam.login_attempts"
ms() { awk "BEGIN {printf \"%.1f\", 1000 / $1}"; }
printf '| %s | refused logins by path, api.login, pgbench -M prepared, 1 client, %ds each: unknown email %s ms, over-long password %s ms, bcrypt account (cost 10) %s ms | %.2fx, %.2fx, %.2fx of the wrong-password time | wrong password on an argon2id account: %s ms |\n' \
  "$(date +%F)" "$seconds" "$(ms "${tps[unknown]}")" "$(ms "${tps[overlong]}")" "$(ms "${tps[bcrypt]}")" \
  "$(awk "BEGIN {print ${tps[wrong]} / ${tps[unknown]}}")" "$(awk "BEGIN {print ${tps[wrong]} / ${tps[overlong]}}")" \
  "$(awk "BEGIN {print ${tps[wrong]} / ${tps[bcrypt]}}")" "$(ms "${tps[wrong]}")" | tee -a "$here/results/login_paths.md"
