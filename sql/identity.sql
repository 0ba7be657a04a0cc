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

-- The token: header names the current key; claims as docs/api.md lists them.
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

-- The client address. With no trusted proxy configured, X-Forwarded-For is ignored: the
-- address is the connection's, and a Unix socket (as here) counts as 127.0.0.1, never NULL.
BEGIN;
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.7"}', true);
SELECT iam.client_ip() AS header_ignored_without_trusted_proxies;
-- PostgREST reaches the database over the socket, behind proxies in 10.0.0.0/8: the client is
-- the right-most hop that is not a trusted proxy.
UPDATE iam.auth_settings SET trusted_proxies = '{127.0.0.1/32, 10.0.0.0/8}';
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.7, 10.0.0.1"}', true);
SELECT iam.client_ip();
-- A client writing a victim's address into the header gets its own address throttled: the
-- proxy appended the real one after it.
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.1, 203.0.113.7, 10.0.0.1"}', true);
SELECT iam.client_ip() AS spoofed_entry_skipped;
-- Twenty failures from one address within 15 minutes refuse that address, even for Ana.
INSERT INTO iam.login_attempts (email, client_ip, succeeded, reason)
SELECT 'spray@acme.test', '203.0.113.7', false, 'unknown_email' FROM generate_series(1, 20);
SELECT api.login('ana@acme.test', 'secret') ? 'token' AS throttled_address;
SELECT client_ip, reason FROM iam.login_attempts ORDER BY attempt_id DESC LIMIT 1;
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.1"}', true);
SELECT api.login('ana@acme.test', 'secret') ? 'token' AS other_address;
-- Garbage never skips the throttle: the walk stops at the trusted hop that handed it over.
SELECT set_config('request.headers', '{"x-forwarded-for": "not an address, 10.0.0.1"}', true);
SELECT iam.client_ip() AS garbage_stops_at_the_proxy;
SELECT set_config('request.headers', '{"x-forwarded-for": ', true);
SELECT iam.client_ip() AS malformed_headers_give_the_connection,
       api.login('ana@acme.test', 'wrong') ? 'error' AS login_still_answers;
-- A trusted proxy that is not a network is refused when it is set.
SAVEPOINT bad_setting;
UPDATE iam.auth_settings SET trusted_proxies = '{10.0.0.1/8}';
ROLLBACK TO bad_setting;
ROLLBACK;

-- Inputs are bounded, and the error names the limit: an email of 321 characters is refused
-- before anything is looked up or stored.
SELECT api.login(repeat('e', 315) || '@a.test', 'x');
SELECT count(*) AS long_email_attempts FROM iam.login_attempts WHERE length(email) > 320;
-- An over-long password is just a wrong password, answered alike.
SELECT api.login('ben@acme.test', repeat('p', 5000)) = api.login('ben@acme.test', 'wrong') AS long_password_same_answer;

-- api.pre_request() reads the key id from the Authorization header: a token signed with a
-- retired key is refused at once, before PostgREST reloads its keys.
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT api.login('ben@acme.test', 'correct horse battery')->>'token' AS old_token \gset
SELECT iam.rotate_signing_key() IS NOT NULL AS rotated;
SELECT set_config('request.jwt.claims', json_build_object('role', 'expense_user', 'sub', '00000000-0000-0000-0000-000000000003',
                                                          'iat', extract(epoch FROM now())::bigint)::text, true) IS NOT NULL AS claims_set,
       set_config('request.headers', json_build_object('authorization', 'Bearer ' || :'old_token')::text, true) IS NOT NULL AS headers_set;
SELECT true AS old_key_works_before_retirement FROM (SELECT api.pre_request()) request;
SELECT iam.retire_signing_key(pg_temp.part(:'old_token', 1)->>'kid');
SELECT api.pre_request();
SELECT set_config('request.headers', '{"authorization": "Bearer not-a-token"}', true) IS NOT NULL AS garbage_token;
SELECT api.pre_request();
SELECT set_config('request.headers', '{}', true) IS NOT NULL AS no_token;
SELECT true AS without_a_token_the_claims_decide FROM (SELECT api.pre_request()) request;
ROLLBACK;

-- A wrong old password in api.change_password counts like a failed login: five lock the
-- account, and then even the right one is refused. Each refusal answers 403 without an
-- exception, so its count commits under PostgREST.
BEGIN;
UPDATE iam.users SET failed_logins = 0, lock_count = 0, locked_until = NULL WHERE email = 'ben@acme.test';
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-000000000003"}', true) IS NOT NULL AS as_ben;
SELECT api.change_password('guess', 'a new password') AS wrong_old_password, current_setting('response.status') AS status;
SELECT bool_or(api.change_password('guess', 'a new password') ? 'user_id') AS any_guess_worked FROM generate_series(1, 4);
SELECT failed_logins, lock_count, locked_until > now() AS locked FROM iam.users WHERE email = 'ben@acme.test';
SELECT api.change_password('correct horse battery', 'a new password') ? 'error' AS right_one_refused_while_locked;
SELECT via, reason, count(*) FROM iam.login_attempts WHERE via = 'change_password' GROUP BY 1, 2 ORDER BY 1, 2;
UPDATE iam.users SET locked_until = now() - interval '1 second' WHERE email = 'ben@acme.test';
SELECT api.change_password('correct horse battery', 'a new password') ? 'password_changed_at' AS changed_after_the_lock;
SELECT failed_logins, lock_count FROM iam.users WHERE email = 'ben@acme.test';
ROLLBACK;

-- Inviting an address that has an account in another organisation answers exactly as inviting
-- a new one: the admin learns nothing about other tenants. Only the invitee's acceptance finds
-- the clash.
BEGIN;
INSERT INTO iam.users (user_id, org_id, email, display_name, role, password_hash) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', 'ada@acme.test', 'Ada', 'admin',
   iam.hash_password('correct horse battery'));
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000000a"}', true) IS NOT NULL AS as_ada;
SELECT api.create_user('gus@globex.test', 'Gus?') AS gus \gset
SELECT api.create_user('newbie@acme.test', 'Newbie') AS newbie \gset
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'gus') k) AS keys_for_another_orgs_address,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'newbie') k) AS keys_for_a_new_address;
SELECT count(*) AS users_created_before_acceptance FROM iam.users WHERE email = 'newbie@acme.test';
SELECT api.create_user('MIA@acme.test', 'Mia twice');
SELECT api.create_user('newbie@acme.test', 'Newbie twice');
SELECT api.create_user(repeat('x', 320) || '@acme.test', 'Long');
SELECT api.create_user('someone@acme.test', 'Boss', 'boss');
SELECT api.accept_invitation((:'newbie'::jsonb->>'invitation_code') || 'x', 'a fine password');
SELECT api.accept_invitation(:'newbie'::jsonb->>'invitation_code', 'a fine password') ? 'user_id' AS newbie_accepts;
SELECT u.user_id::text = :'newbie'::jsonb->>'user_id' AS reserved_user_id, u.org_id, u.role
  FROM iam.users u WHERE u.email = 'newbie@acme.test';
SELECT api.accept_invitation(:'gus'::jsonb->>'invitation_code', 'a fine password');
ROLLBACK;
-- Key material: between 1 and 1024 bytes a call, from OpenSSL, never the same twice.
SELECT length(iam.random_bytes(1)) AS one, length(iam.random_bytes(1024)) AS most,
       iam.random_bytes(32) <> iam.random_bytes(32) AS differ;
SELECT iam.random_bytes(0);
SELECT iam.random_bytes(1025);
SELECT iam.random_bytes(NULL);
\set ON_ERROR_ROLLBACK off
