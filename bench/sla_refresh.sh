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
# 1% cross at once: P0 tickets whose response clock (15 min, at risk after 11 min 15 s) turns
# at_risk 3 seconds after they open. One run: afterwards they have crossed.
crossers=$((rows / 100))
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "INSERT INTO ops.tickets (kind, priority, title, reporter, opened_at)
  SELECT 'incident', 'P0', 'crossing ' || i, 'bench', now() - interval '11 minutes 12 seconds'
    FROM generate_series(1, $crossers) i"
sleep 4
crossing=$({ echo '\timing on'; echo "SELECT ops.refresh_sla_transitions();"; } | psql -X -q -d "$db" |
  awk '/^Time:/ { printf "%.2f", $2 + 0 }')
recorded=$(psql -X -A -t -d "$db" -c "SELECT count(*) FROM ops.sla_transitions WHERE state = 'at_risk'")
psql -X -q -d "$db" -c "ALTER TABLE ops.tickets DISABLE TRIGGER never_deleted" -c "ALTER TABLE ops.ticket_events DISABLE TRIGGER append_only" \
  -c "TRUNCATE ops.tickets CASCADE" -c "ALTER TABLE ops.tickets ENABLE TRIGGER never_deleted" \
  -c "ALTER TABLE ops.ticket_events ENABLE TRIGGER append_only" >/dev/null

ratio=$(awk "BEGIN {printf \"%.3f\", $idle / $board}")
printf '| %s | ops.refresh_sla_transitions() with %d open tickets, nothing due, best of 5 | %s ms (%sx of the peer) | reading every clock on ops.sla_board: %s ms |\n' \
  "$(date +%F)" "$rows" "$idle" "$ratio" "$board" | tee -a "$here/results/sla_refresh.md"
ratio=$(awk "BEGIN {printf \"%.2f\", $crossing / $board}")
printf '| %s | ops.refresh_sla_transitions() with %d open tickets, %d crossing into at_risk at once (%d recorded), one run | %s ms (%sx of the peer) | reading every clock on ops.sla_board: %s ms |\n' \
  "$(date +%F)" "$((rows + crossers))" "$crossers" "$recorded" "$crossing" "$ratio" "$board" | tee -a "$here/results/sla_refresh.md"
