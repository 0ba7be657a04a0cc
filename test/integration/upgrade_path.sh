#!/usr/bin/env bash
# The two ways to the default version must end in the same schema:
#   fresh     CREATE EXTENSION expense_ops runs the full script that make generates from
#             extension/sql (expense_ops--<default_version>.sql);
#   upgraded  CREATE EXTENSION expense_ops VERSION '<oldest>' runs the frozen full script in
#             migrations/, and ALTER EXTENSION expense_ops UPDATE every update script after it.
# scripts/schema-fingerprint.sql describes each database one fact a line; any difference fails.
#
#   upgrade_path.sh               the comparison
#   upgrade_path.sh --self-check  shows that the comparison catches an update script that misses
#       a change: it joins the update chain into one script from the oldest version to the
#       throwaway version "selfcheck", and for each kind of statement below installs a copy
#       without the last statement of that kind (so from the newest script that has one),
#       updates the oldest version to it, and expects a difference. An unchanged copy must show
#       none. The installed scripts are never modified, and the copy is removed on exit,
#       whatever happens.
#
# Needs the cluster environment (PGHOST, PGPORT, PGUSER: a superuser) and the extension installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-compare}
case $mode in
  compare | --self-check) ;;
  *) echo "usage: $0 [--self-check]" >&2; exit 2 ;;
esac

versions=$(ls "$root"/migrations/expense_ops--*.sql | sed -n 's|.*/expense_ops--\([^-]*\)\.sql$|\1|p' | sort -V)
oldest=$(echo "$versions" | head -n 1)
newest=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/extension/expense_ops.control")
echo "oldest shipped version: $oldest; default version: $newest"

work=$(mktemp -d /tmp/expense_ops_upgrade.XXXXXX)
throwaway=
cleanup() {
  if [ -n "$throwaway" ]; then
    as_installer rm -f "$throwaway"
  fi
  for database in expense_ops_fresh expense_ops_upgraded; do
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# new_database NAME SQL...: a new database NAME in which each SQL command has run.
new_database() {
  local database=$1 command args=()
  shift
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database" 2>&1 |
    grep -v 'does not exist, skipping' >&2 || true
  for command in "$@"; do
    args+=(-c "$command")
  done
  psql -X -q -v ON_ERROR_STOP=1 -d "$database" "${args[@]}"
}

fingerprint() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -f "$root/scripts/schema-fingerprint.sql"
}

new_database expense_ops_fresh "CREATE EXTENSION expense_ops"
fingerprint expense_ops_fresh >"$work/fresh"
[ -s "$work/fresh" ] || { echo "empty fingerprint"; exit 1; }

if [ "$mode" = compare ]; then
  new_database expense_ops_upgraded "CREATE EXTENSION expense_ops VERSION '$oldest'" \
    "ALTER EXTENSION expense_ops UPDATE"
  fingerprint expense_ops_upgraded >"$work/upgraded"
  echo "$(wc -l <"$work/fresh") fingerprint lines"
  diff -u --label "fresh install of $newest" --label "$oldest updated to $newest" "$work/fresh" "$work/upgraded"
  exit
fi

# ------------------------------------------------------------------------------------------------
# --self-check

# The server's own extension directory, where the installed scripts are.
extdir="$(psql -X -A -t -d postgres -c "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")/extension"
as_installer() {
  if [ -w "$extdir" ]; then "$@"; else sudo "$@"; fi
}
installed_files() { (cd "$extdir" && md5sum expense_ops[.-]*); }
# The whole chain as one script, from the oldest version straight to a throwaway one: a kind of
# statement the newest update script lacks is taken out of the newest script that has one.
chain=$(cd "$extdir" && ls expense_ops--*--*.sql | grep -v -- '--selfcheck\.sql' | sort -V -t- -k3)
(cd "$extdir" && cat $chain) | grep -v '^\\echo' >"$work/chain.sql"
throwaway=$extdir/expense_ops--$oldest--selfcheck.sql
installed_files | grep -v -- '--selfcheck\.sql' >"$work/installed.before"
echo "self-check: the update chain ($(echo $chain | tr ' ' ',')) as one script, each time missing one statement, installed as $(basename "$throwaway")"

# without KIND REGEX: prints the chain without its last statement whose text (whitespace
# collapsed) matches REGEX, which is in the newest script that has such a statement; the
# removed statement's first line goes to $work/removed. Exits 3 when no statement matches.
without() {
  /usr/bin/python3 - "$work/chain.sql" "$2" "$work/removed" <<'PYTHON'
import re, sys
path, pattern, removed_path = sys.argv[1:4]
src = open(path).read()
i, n = 0, len(src)

def skip_to_eol(i):
    j = src.find('\n', i)
    return n if j < 0 else j + 1

while i < n:  # statement by statement: quotes, dollar quotes and comments never end one
    if src[i].isspace():
        i += 1; continue
    if src.startswith('--', i) or src[i] == '\\':
        i = skip_to_eol(i); continue
    if src.startswith('/*', i):
        i = src.index('*/', i) + 2; continue
    start = i
    while i < n:
        c = src[i]
        if src.startswith('--', i):
            i = skip_to_eol(i); continue
        if src.startswith('/*', i):
            i = src.index('*/', i) + 2; continue
        if c == "'":
            backslashes = src[i - 1:i] in ('E', 'e')
            i += 1
            while src[i] != "'" or src[i + 1:i + 2] == "'":
                i += 2 if (backslashes and src[i] == '\\') or src[i] == "'" else 1
            i += 1; continue
        if c == '"':
            i = src.index('"', i + 1) + 1; continue
        m = re.match(r'\$([A-Za-z_][A-Za-z0-9_]*)?\$', src[i:]) if c == '$' else None
        if m and not (src[i - 1:i].isalnum() or src[i - 1:i] == '_'):
            i = src.index(m.group(0), i + len(m.group(0))) + len(m.group(0)); continue
        i += 1
        if c == ';':
            break
    statement = src[start:i]
    if re.search(pattern, re.sub(r'\s+', ' ', statement)):
        last = (start, i)
if 'last' not in dir():
    sys.exit(3)  # no such statement
start, i = last
open(removed_path, 'w').write(src[start:i].split('\n')[0] + '\n')
sys.stdout.write(src[:start] + src[i:])
PYTHON
}

# Each kind of change an update script makes, and what of the fingerprint notices its absence.
kinds=(
  "COMMENT ON|^COMMENT ON "
  "GRANT|^GRANT "
  "REVOKE|^REVOKE "
  "CREATE POLICY|^CREATE POLICY "
  "CREATE TRIGGER|^CREATE (CONSTRAINT )?TRIGGER "
  "CREATE OR REPLACE FUNCTION|^CREATE OR REPLACE FUNCTION "
  "ALTER TABLE ... ADD CONSTRAINT|^ALTER TABLE [^ ]+ ADD CONSTRAINT [^,]*;\$"
  "INSERT (a seeded row)|^INSERT INTO "
  "pg_extension_config_dump|pg_extension_config_dump\\("
)

# try_copy FILE: installs FILE as the throwaway update script, updates the oldest version to it,
# and writes the fingerprint's differences from the fresh install (the version aside) to
# $work/diff. Fails when the update itself fails.
try_copy() {
  as_installer install -m 644 "$1" "$throwaway"
  new_database expense_ops_upgraded "CREATE EXTENSION expense_ops VERSION '$oldest'" \
    "ALTER EXTENSION expense_ops UPDATE TO 'selfcheck'" >"$work/update.out" 2>&1 || return 1
  fingerprint expense_ops_upgraded |
    sed "s/^extension expense_ops version=selfcheck /extension expense_ops version=$newest /" >"$work/upgraded"
  diff "$work/fresh" "$work/upgraded" >"$work/diff" || true
}

failures=0
cp "$work/chain.sql" "$work/copy.sql"
if ! try_copy "$work/copy.sql"; then
  echo "not ok - the unchanged copy does not update: $(tail -3 "$work/update.out")"
  failures=$((failures + 1))
elif [ -s "$work/diff" ]; then
  echo "not ok - the unchanged copy already differs from a fresh install:"
  head -20 "$work/diff"
  failures=$((failures + 1))
else
  echo "ok - the unchanged copy matches a fresh install"
fi

for kind in "${kinds[@]}"; do
  name=${kind%%|*}
  status=0
  without "$name" "${kind#*|}" >"$work/copy.sql" || status=$?
  if [ "$status" -eq 3 ]; then
    echo "not ok - no update script has a $name statement to take out"
    failures=$((failures + 1))
    continue
  elif [ "$status" -ne 0 ]; then
    echo "not ok - could not take a $name out of the chain"
    failures=$((failures + 1))
    continue
  fi
  removed=$(cat "$work/removed")
  if ! try_copy "$work/copy.sql"; then
    echo "not ok - without its last $name ($removed) the update fails instead: $(tail -3 "$work/update.out")"
    failures=$((failures + 1))
  elif [ -s "$work/diff" ]; then
    echo "ok - caught a missing $name ($removed): $(grep -c '^[<>]' "$work/diff") fingerprint lines differ, such as"
    grep '^[<>]' "$work/diff" | head -2 | cut -c1-200 | sed 's/^/     /'
  else
    echo "not ok - a missing $name ($removed) went unnoticed"
    failures=$((failures + 1))
  fi
done

as_installer rm -f "$throwaway"
throwaway=
installed_files >"$work/installed.after"
if diff "$work/installed.before" "$work/installed.after" >/dev/null; then
  echo "ok - the installed extension files are as before"
else
  echo "not ok - the installed extension files changed:"
  diff "$work/installed.before" "$work/installed.after" || true
  failures=$((failures + 1))
fi
[ "$failures" -eq 0 ]
