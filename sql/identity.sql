-- Tenants, users and login (api.login), as the extension enforces them.
CREATE EXTENSION IF NOT EXISTS expense_ops;
\set VERBOSITY terse

-- Organisations: a real currency and an IANA time zone.
INSERT INTO expense.orgs (name, base_currency, time_zone) VALUES ('Bad', 'XYZ', 'UTC');
INSERT INTO expense.orgs (name, base_currency, time_zone) VALUES ('Bad', 'EUR', 'Mars/Olympus');
INSERT INTO expense.orgs (name, base_currency, time_zone) VALUES ('Bad', 'EUR', '+05');
INSERT INTO expense.orgs (name, base_currency, time_zone) VALUES ('  ', 'EUR', 'UTC');
INSERT INTO expense.orgs (org_id, name, base_currency, time_zone) VALUES
  ('00000000-0000-0000-0000-0000000000a1', 'Acme', 'EUR', 'Europe/Berlin'),
  ('00000000-0000-0000-0000-0000000000b2', 'Globex', 'USD', 'America/New_York');

-- Users: unique email ignoring case, known roles, a manager from the same org.
INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash) VALUES
  ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a1', 'mia@acme.test', 'Mia', 'manager', NULL),
  ('00000000-0000-0000-0000-000000000009', '00000000-0000-0000-0000-0000000000b2', 'gus@globex.test', 'Gus', 'manager', NULL);
INSERT INTO iam.users (org_id, email, display_name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'MIA@acme.test', 'Mia again');
INSERT INTO iam.users (org_id, email, display_name, role) VALUES ('00000000-0000-0000-0000-0000000000a1', 'x@acme.test', 'X', 'boss');
INSERT INTO iam.users (org_id, email, display_name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'not-an-email', 'X');
INSERT INTO iam.users (org_id, email, display_name, manager_id)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'cross@acme.test', 'Cross', '00000000-0000-0000-0000-000000000009');
UPDATE iam.users SET manager_id = user_id WHERE email = 'mia@acme.test';

-- Ana's hash came from another system as bcrypt ("secret"); Ben has a current argon2id hash.
INSERT INTO iam.users (user_id, org_id, email, display_name, role, manager_id, password_hash) VALUES
  ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000a1', 'ana@acme.test', 'Ana',
   'employee', '00000000-0000-0000-0000-000000000001', '$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW');
INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash) VALUES
  ('00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-0000000000a1', 'ben@acme.test', 'Ben',
   'finance', iam.hash_password('correct horse battery'));
SELECT iam.hash_password('short');

-- A successful login returns a token and its facts; bcrypt is replaced by argon2id.
SELECT r ? 'token' AS token, r->>'token_type' AS token_type, r->>'user_id' AS user_id,
       r->>'org_id' AS org_id, r->>'role' AS role,
       (r->>'expires_at')::timestamptz = date_trunc('second', now()) + interval '1 hour' AS one_hour
  FROM api.login('Ana@Acme.test', 'secret') r;
SELECT left(password_hash, 31) AS rehashed FROM iam.users WHERE email = 'ana@acme.test';
SELECT api.login('ana@acme.test', 'secret') ? 'token' AS rehashed_password_still_works;

-- The token: header names the current key; claims as DESIGN.md section 3 lists them.
CREATE FUNCTION pg_temp.part(token text, n int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT convert_from(decode(rpad(translate(split_part(token, '.', n), '-_', '+/'),
                                   (length(split_part(token, '.', n)) + 3) / 4 * 4, '='), 'base64'),
                      'UTF8')::jsonb $$;
SELECT pg_temp.part(t, 1) - 'kid' AS header,
       pg_temp.part(t, 1)->>'kid' = (SELECT kid FROM iam.signing_keys ORDER BY created_at DESC LIMIT 1) AS current_kid,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pg_temp.part(t, 2)) k) AS claims,
       pg_temp.part(t, 2)->>'role' AS role, pg_temp.part(t, 2)->>'app_role' AS app_role,
       pg_temp.part(t, 2)->>'sub' AS sub, pg_temp.part(t, 2)->>'org' AS org,
       (pg_temp.part(t, 2)->>'exp')::bigint - (pg_temp.part(t, 2)->>'iat')::bigint AS lifetime
  FROM (SELECT api.login('ben@acme.test', 'correct horse battery')->>'token' AS t) s;

-- Failures: one answer for all, HTTP 401 for PostgREST, and a row for each.
SELECT api.login('ben@acme.test', 'wrong') AS wrong_password, current_setting('response.status') AS status;
SELECT api.login('nobody@acme.test', 'secret') = api.login('ben@acme.test', 'wrong') AS same_answer;
SELECT api.login('mia@acme.test', 'anything') = api.login('ben@acme.test', 'wrong') AS no_password_same_answer;
SELECT api.login(NULL, NULL) = api.login('ben@acme.test', 'wrong') AS nulls_same_answer;
SELECT api.login('x''; DROP TABLE iam.users; --', 'x') = api.login('ben@acme.test', 'wrong') AS injection_same_answer;
SELECT count(*) AS users_still_there FROM iam.users;

-- Five failures in 15 minutes lock Ben; then even the right password is refused, as "locked".
SELECT failed_logins, lock_count, locked_until IS NOT NULL AS locked FROM iam.users WHERE email = 'ben@acme.test';
SELECT api.login('ben@acme.test', 'wrong') ? 'token';
SELECT failed_logins, lock_count, round(extract(epoch FROM locked_until - now()) / 60) AS lock_minutes
  FROM iam.users WHERE email = 'ben@acme.test';
SELECT api.login('ben@acme.test', 'correct horse battery') ? 'token' AS right_password_while_locked;
-- The lock passes; the next five failures lock for twice as long.
UPDATE iam.users SET locked_until = now() - interval '1 second' WHERE email = 'ben@acme.test';
SELECT bool_or(api.login('ben@acme.test', 'wrong') ? 'token') FROM generate_series(1, 5);
SELECT lock_count, round(extract(epoch FROM locked_until - now()) / 60) AS lock_minutes
  FROM iam.users WHERE email = 'ben@acme.test';
-- After the lock, a success forgets it all.
UPDATE iam.users SET locked_until = now() - interval '1 second' WHERE email = 'ben@acme.test';
SELECT api.login('ben@acme.test', 'correct horse battery') ? 'token' AS after_lock;
SELECT failed_logins, lock_count, locked_until FROM iam.users WHERE email = 'ben@acme.test';

-- A disabled user cannot log in.
UPDATE iam.users SET disabled_at = now() WHERE email = 'ana@acme.test';
SELECT api.login('ana@acme.test', 'secret') ? 'token' AS disabled_login;
UPDATE iam.users SET disabled_at = NULL WHERE email = 'ana@acme.test';

-- Every attempt was recorded, with its reason.
SELECT reason, succeeded, count(*) FROM iam.login_attempts GROUP BY 1, 2 ORDER BY 1, 2;

-- Twenty failures from one address within 15 minutes refuse that address, even for Ana.
BEGIN;
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.7, 10.0.0.1"}', true);
SELECT iam.client_ip();
INSERT INTO iam.login_attempts (email, client_ip, succeeded, reason)
SELECT 'spray@acme.test', '203.0.113.7', false, 'unknown_email' FROM generate_series(1, 20);
SELECT api.login('ana@acme.test', 'secret') ? 'token' AS throttled_address;
SELECT reason FROM iam.login_attempts ORDER BY attempt_id DESC LIMIT 1;
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.1"}', true);
SELECT api.login('ana@acme.test', 'secret') ? 'token' AS other_address;
SELECT set_config('request.headers', '{"x-forwarded-for": "not an address"}', true);
SELECT iam.client_ip() IS NULL AS forged_header_ignored;
SELECT set_config('request.headers', '{"x-forwarded-for": ', true);
SELECT iam.client_ip() IS NULL AS malformed_headers_ignored,
       api.login('ana@acme.test', 'wrong') ? 'error' AS login_still_answers;
ROLLBACK;
