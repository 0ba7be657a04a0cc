#!/usr/bin/env bash
# ops.refresh_sla_transitions(), the call the worker makes every 15 s, with 100k open tickets:
# once when nothing has come due, and once when 1% of the tickets cross into at_risk or
# breached at the same moment. Peer: the naive refresh, reading every clock on the SLA board.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rows=${BENCH_TICKETS:-100000}
db=$BENCH_DATABASE

psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
INSERT INTO ops.tickets (kind, priority, title, reporter, opened_at)
SELECT (ARRAY['incident', 'bug', 'feature', 'support', 'security'])[1 + i % 5], 'P' || (1 + i % 3),
       'bench ticket ' || i, 'bench', now() - (i % 1000) * interval '1 second'
  FROM generate_series(1, $rows) i;
SELECT ops.refresh_sla_transitions();
VACUUM ANALYZE ops.tickets;
SQL

best() {  # best SQL: the best of 5 timings, in ms, in one session
  { echo '\timing on'; for _ in 1 2 3 4 5; do echo "$1"; done; } | psql -X -q -d "$db" |
    awk '/^Time:/ { t = $2 + 0; if (!b || t < b) b = t } END { printf "%.2f", b }'
}
idle=$(best "SELECT ops.refresh_sla_transitions();")
board=$(best "SELECT count(*) FILTER (WHERE response_state = 'breached' OR resolution_state = 'breached') FROM ops.sla_board;")
# 1% come due at once: their bookmarks are moved into the past, as time passing would.
crossing=$({ echo '\timing on'
  for _ in 1 2 3; do
    echo "UPDATE ops.tickets SET sla_next_check_at = now() - interval '1 second' WHERE ticket_id % 100 = 0;"
    echo "SELECT ops.refresh_sla_transitions();"
  done; } | psql -X -q -d "$db" | awk '/^Time:/ { n++; if (n % 2 == 0) { t = $2 + 0; if (!b || t < b) b = t } } END { printf "%.2f", b }')
psql -X -q -d "$db" -c "ALTER TABLE ops.tickets DISABLE TRIGGER never_deleted" \
  -c "TRUNCATE ops.tickets CASCADE" -c "ALTER TABLE ops.tickets ENABLE TRIGGER never_deleted" >/dev/null 2>&1

ratio=$(awk "BEGIN {printf \"%.3f\", $idle / $board}")
printf '| %s | ops.refresh_sla_transitions() with %d open tickets, nothing due, best of 5 | %s ms (%sx of the peer) | reading every clock on ops.sla_board: %s ms |\n' \
  "$(date +%F)" "$rows" "$idle" "$ratio" "$board" | tee -a "$here/results/sla_refresh.md"
ratio=$(awk "BEGIN {printf \"%.2f\", $crossing / $board}")
printf '| %s | ops.refresh_sla_transitions() with %d open tickets, 1%% crossing at once, best of 3 | %s ms (%sx of the peer) | reading every clock on ops.sla_board: %s ms |\n' \
  "$(date +%F)" "$rows" "$crossing" "$ratio" "$board" | tee -a "$here/results/sla_refresh.md"
