-- Who may execute what (README, "The boundary rules"). PostgreSQL grants EXECUTE on every new
-- function to PUBLIC; the extension keeps none of that. Internal and trigger functions are never
-- executable by the API roles, except the few listed here, which row-level security, the views
-- and the INSTEAD OF triggers call with the caller's rights.
BEGIN;
SELECT plan(10);

CREATE TEMP VIEW extension_functions AS
SELECT p.oid, p.oid::regprocedure::text AS signature, n.nspname AS schema, p.prorettype = 'trigger'::regtype AS is_trigger
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'expense_ops'
  JOIN pg_namespace n ON n.oid = p.pronamespace;

SELECT is(array_agg(signature ORDER BY signature) FILTER (WHERE has_function_privilege('public', oid, 'EXECUTE')),
          NULL, 'no function of the extension is executable by PUBLIC')
  FROM extension_functions;

SELECT is(array_agg(signature ORDER BY signature)
            FILTER (WHERE has_function_privilege(r, oid, 'EXECUTE')), NULL,
          format('no trigger function is executable by %s', r))
  FROM extension_functions, unnest(ARRAY['expense_anon', 'expense_user', 'expense_ops_worker', 'expense_ops_backup']) r
 WHERE is_trigger
 GROUP BY r ORDER BY r;

SELECT set_eq($$SELECT signature FROM extension_functions
                 WHERE schema <> 'api' AND has_function_privilege('expense_user', oid, 'EXECUTE')$$,
              ARRAY[
                -- row-level security policies and the views' filters
                'iam.current_user_id()', 'iam.current_account()', 'iam.can_see_expenses_of(uuid)',
                'iam.caller_has_role(uuid,text[])', 'ops.is_support_staff()',
                -- what api.alerts reads: nothing unless the caller is staff
                'ops.staff_alert_status()',
                -- what api.backups and api.restore_tests show of an error
                'ops.without_paths(text)',
                -- computed columns of the api views
                'expense.to_amount(bigint,text)',
                'ops.read_clock(text,timestamp with time zone,interval,timestamp with time zone,tstzmultirange,double precision,timestamp with time zone)',
                'ops.feature_score(integer,integer,integer,integer,integer,double precision,double precision,double precision,double precision,double precision)',
                -- the INSTEAD OF triggers of api.expenses, categories, exchange_rates, organisation
                'expense.to_minor_units(numeric,text)', 'expense.is_currency(text)', 'expense.is_time_zone(text)',
                -- the duplicates index over expense.expenses, maintained with the writer's rights
                'expense.normalize_merchant(text)',
                'expense.bounded_text(text,text,integer)', 'expense.explain_refused_write(uuid,text)',
                'expense.limit_in_minor_units(text,numeric,text)',
                -- the error catalog, which those triggers raise by name
                'expense.sqlstate(text)'],
              'expense_user executes exactly the listed functions outside api');

SELECT is(array_agg(signature ORDER BY signature), NULL, 'expense_anon executes no function outside api')
  FROM extension_functions WHERE schema <> 'api' AND has_function_privilege('expense_anon', oid, 'EXECUTE');

SELECT set_eq($$SELECT signature FROM extension_functions WHERE has_function_privilege('expense_anon', oid, 'EXECUTE')$$,
              ARRAY['api.health()', 'api.health_db()', 'api.login(text,text)', 'api.pre_request()',
                    'api.accept_invitation(text,text)'],
              'expense_anon executes exactly health, health_db, login, pre_request and accept_invitation');

SELECT set_eq($$SELECT signature FROM extension_functions WHERE has_function_privilege('expense_ops_worker', oid, 'EXECUTE')$$,
              ARRAY['api.health()', 'api.health_db()', 'ops.refresh_sla_transitions()',
                    'ops.record_worker_heartbeat(text,text,integer,text,timestamp with time zone,interval)',
                    -- the latency sketch, for the metrics it reads
                    'ops.latency_sketch_in(cstring)', 'ops.latency_sketch_out(ops.latency_sketch)',
                    'ops.latency_sketch_recv(internal)', 'ops.latency_sketch_send(ops.latency_sketch)',
                    'ops.latency_sketch(double precision)', 'ops.latency_sketch_merge(ops.latency_sketch)',
                    'ops.sketch_quantile(ops.latency_sketch,double precision)',
                    'ops.sketch_quantiles(ops.latency_sketch,double precision[])',
                    'ops.sketch_count(ops.latency_sketch)', 'ops.sketch_sum(ops.latency_sketch)',
                    'ops.sketch_mean(ops.latency_sketch)', 'ops.sketch_min(ops.latency_sketch)',
                    'ops.sketch_max(ops.latency_sketch)',
                    -- monitoring data: partitions, check results, requests and their rollups
                    'ops.maintain_partitions(timestamp with time zone)',
                    'ops.record_check_results(jsonb,timestamp with time zone)',
                    'ops.ingest_requests(jsonb,timestamp with time zone)',
                    'ops.load_request_staging(timestamp with time zone)',
                    'ops.rollup_requests(timestamp with time zone)',
                    'ops.request_problem(text,text,text,text,text,text,text,text,timestamp with time zone,timestamp with time zone)',
                    'ops.ship_log(text,text,text,bigint,bigint,jsonb,timestamp with time zone)',
                    'ops.check_result_problem(text,text,text,text,text,text,timestamp with time zone,timestamp with time zone)',
                    'ops.request_metrics(timestamp with time zone,timestamp with time zone,text)',
                    -- error tracking
                    'ops.classify_error(text,integer)', 'ops.ingest_errors(jsonb,timestamp with time zone)',
                    'ops.log_entry_problem(text,text,text,text,timestamp with time zone,timestamp with time zone)',
                    'ops.error_trends(interval,timestamp with time zone)',
                    -- matchers, uptime and host metrics
                    'ops.labels_match(jsonb,jsonb)', 'ops.check_matchers(jsonb)', 'ops.check_labels(ops.checks)',
                    'ops.uptime_daily(text,integer,timestamp with time zone)',
                    'ops.host_metrics(timestamp with time zone,timestamp with time zone)',
                    'ops.evaluate_alerts(timestamp with time zone,text[])', 'ops.alert_status(timestamp with time zone)',
                    'ops.claim_notifications(text,integer,interval,timestamp with time zone)',
                    'ops.notification_delivered(bigint,text,timestamp with time zone)',
                    'ops.notification_failed(bigint,text,boolean,text,timestamp with time zone,double precision,interval)',
                    'ops.release_notifications(text,bigint[])',
                    -- Alertmanager's payloads, which the notifications it delivers carry
                    'ops.webhook_payload(text,text,jsonb,jsonb,text,integer)', 'ops.alertmanager_payload(jsonb)',
                    -- metrics and objectives: the statement sampler and what the alert rules read
                    'ops.sample_statements(timestamp with time zone)',
                    'ops.slow_statements(timestamp with time zone,timestamp with time zone)',
                    'ops.connection_usage()', 'ops.replication_metrics()', 'ops.standby_count()',
                    'ops.consecutive_failures(timestamp with time zone)',
                    'ops.sketch_count_below(ops.latency_sketch,double precision)',
                    'ops.slo_status(timestamp with time zone)',
                    'ops.slo_burn_rate(text,interval,timestamp with time zone)',
                    'ops.sla_tickets_at_risk(timestamp with time zone)'],
              'the worker executes exactly its heartbeat, the SLA refresh, the health functions, the latency sketch, the monitoring writers, metrics and objectives, alert evaluation, the outbox and the payload builders, and nothing of backups');

SELECT set_eq($$SELECT signature FROM extension_functions WHERE has_function_privilege('expense_ops_backup', oid, 'EXECUTE')$$,
              ARRAY[
                -- the backup job set: markers, requests, each step of a backup and a restore test
                'ops.key_table_counts()', 'ops.write_backup_marker(text,text,jsonb)',
                'ops.backup_configuration_files()', 'ops.take_backup_request(text,text[])',
                'ops.backup_started(text,text,text,text,bigint,bigint,text)',
                'ops.backup_finished(bigint,text,bigint,pg_lsn,pg_lsn,timestamp with time zone,double precision)',
                'ops.backup_verified(bigint,double precision)', 'ops.backup_failed(bigint,text,text)',
                'ops.backup_expired(bigint)', 'ops.backups_interrupted(text)',
                'ops.restore_test_started(text,text,bigint,text,bigint,timestamp with time zone)',
                'ops.restore_test_finished(bigint,boolean,jsonb,double precision,double precision,text)',
                'ops.restore_tests_interrupted(text)', 'ops.restore_expectations(bigint)',
                'ops.backup_switch_wal()', 'ops.wal_archived(text)', 'ops.backup_status(timestamp with time zone)'],
              'the backup worker''s role executes exactly the backup job set''s reports');

SELECT * FROM finish();
ROLLBACK;
