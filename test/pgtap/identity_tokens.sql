-- Tokens after login: revocation, the pre-request check, key secrecy and rotation, timing.
-- Requests are emulated as PostgREST makes them: a transaction-local role and claims.
BEGIN;
SELECT plan(24);

INSERT INTO expense.orgs (org_id, name, base_currency) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Acme', 'EUR');
INSERT INTO iam.users (user_id, org_id, email, display_name, password_hash) VALUES
  ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000a1', 'ana@acme.test', 'Ana',
   iam.hash_password('correct horse battery'));

CREATE FUNCTION pg_temp.claims_of(token text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT convert_from(decode(rpad(translate(split_part(token, '.', 2), '-_', '+/'),
                                   (length(split_part(token, '.', 2)) + 3) / 4 * 4, '='), 'base64'),
                      'UTF8')::jsonb $$;
CREATE FUNCTION pg_temp.kid_of(token text) RETURNS text LANGUAGE sql AS $$
  SELECT convert_from(decode(rpad(translate(split_part(token, '.', 1), '-_', '+/'),
                                   (length(split_part(token, '.', 1)) + 3) / 4 * 4, '='), 'base64'),
                      'UTF8')::jsonb->>'kid' $$;
-- What PostgREST does before each request with a verified token.
CREATE FUNCTION pg_temp.as_request(claims jsonb) RETURNS void LANGUAGE sql AS $$
  SELECT set_config('role', claims->>'role', true), set_config('request.jwt.claims', claims::text, true) $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

SELECT api.login('ana@acme.test', 'correct horse battery')->>'token' AS token \gset
SELECT pg_temp.claims_of(:'token') AS claims \gset

-- Anonymous requests pass the pre-request check.
SELECT pg_temp.as_request('{"role": "expense_anon"}');
SELECT lives_ok('SELECT api.pre_request()', 'anonymous requests pass api.pre_request()');
RESET ROLE;

-- A fresh token passes; after logout the same token is refused with PT401 (HTTP 401).
SELECT pg_temp.as_request(:'claims');
SELECT is(current_user::text, 'expense_user', 'the request runs as expense_user');
SELECT lives_ok('SELECT api.pre_request()', 'a fresh token passes');
SELECT lives_ok('SELECT api.logout()', 'the user logs out');
SELECT throws_ok('SELECT api.pre_request()', 'PT401', 'token revoked', 'a revoked token is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM iam.revoked_tokens WHERE jti = (:'claims'::jsonb->>'jti')::uuid), 1::bigint,
          'the jti is recorded as revoked');

-- Logging out needs a token.
SELECT pg_temp.as_request('{"role": "expense_anon"}');
SELECT throws_ok('SELECT api.logout()', '42501', NULL, 'the anonymous role may not call api.logout()');
RESET ROLE;

-- A disabled user's tokens stop working at once.
SELECT api.login('ana@acme.test', 'correct horse battery')->>'token' AS token2 \gset
SELECT pg_temp.claims_of(:'token2') AS claims2 \gset
UPDATE iam.users SET disabled_at = now() WHERE email = 'ana@acme.test';
SELECT pg_temp.as_request(:'claims2');
SELECT throws_ok('SELECT api.pre_request()', 'PT401', 'account disabled', 'a disabled user is refused');
RESET ROLE;
UPDATE iam.users SET disabled_at = NULL WHERE email = 'ana@acme.test';

-- Tokens issued before the last password change are refused.
UPDATE iam.users SET password_changed_at = now() + interval '2 seconds' WHERE email = 'ana@acme.test';
SELECT pg_temp.as_request(:'claims2');
SELECT throws_ok('SELECT api.pre_request()', 'PT401', 'token issued before the last password change',
                 'a token older than the password is refused');
RESET ROLE;
UPDATE iam.users SET password_changed_at = NULL WHERE email = 'ana@acme.test';

-- Nothing of a key is readable by the API roles.
SELECT encode(secret, 'hex') AS secret_hex, encode(secret, 'base64') AS secret_b64
  FROM iam.signing_keys ORDER BY created_at DESC LIMIT 1 \gset
SELECT pg_temp.as_request('{"role": "expense_anon"}');
SELECT throws_ok('SELECT * FROM iam.signing_keys', '42501', NULL, 'anon cannot read the keys');
SELECT throws_ok('SELECT iam.postgrest_jwks()', '42501', NULL, 'anon cannot get the JWKS');
SELECT is((SELECT count(*) FROM pg_settings WHERE setting ILIKE '%' || :'secret_hex' || '%'
                                              OR setting LIKE '%' || :'secret_b64' || '%'), 0::bigint,
          'no setting visible to anon holds the secret');
RESET ROLE;
SELECT pg_temp.as_request(:'claims2');
SELECT throws_ok('SELECT secret FROM iam.signing_keys', '42501', NULL, 'a user cannot read the keys');
SELECT throws_ok($$SELECT iam.sign_token('{}', 'k', '\x00')$$, '42501', NULL, 'a user cannot sign tokens');
SELECT throws_ok('SELECT iam.rotate_signing_key()', '42501', NULL, 'a user cannot rotate keys');
SELECT is(current_setting('request.jwt.claims', true)::jsonb ? 'secret', false, 'the claims carry no key');
RESET ROLE;

-- Rotation: the new key signs, the old one still verifies until it is retired.
SELECT kid AS old_kid FROM iam.signing_keys ORDER BY created_at DESC LIMIT 1 \gset
SELECT iam.rotate_signing_key() AS new_kid \gset
SELECT is(pg_temp.kid_of(api.login('ana@acme.test', 'correct horse battery')->>'token'), :'new_kid',
          'tokens are signed with the new key');
SELECT is((SELECT array_agg(k->>'kid' ORDER BY k->>'kid') FROM jsonb_array_elements(iam.postgrest_jwks()->'keys') k),
          (SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY[:'old_kid', :'new_kid']) x),
          'the JWKS holds both keys while the old one is in use');
SELECT lives_ok(format('SELECT iam.retire_signing_key(%L)', :'old_kid'), 'the old key is retired');
SELECT is((SELECT jsonb_array_length(iam.postgrest_jwks()->'keys')), 1, 'the JWKS holds the new key only');
SELECT throws_ok(format('SELECT iam.retire_signing_key(%L)', :'new_kid'), '55000', NULL,
                 'the last key in use cannot be retired');
SELECT throws_ok($$SELECT iam.retire_signing_key('no-such-key')$$, '22023', NULL, 'an unknown kid is refused');

-- Unknown emails take as long as wrong passwords: both spend one argon2id computation. The two
-- are timed in turns and the fastest of each compared: a shared, noisy machine only ever adds
-- time, so the minimum is the cost of the work itself, and a burst cannot land on one side.
CREATE FUNCTION pg_temp.fastest_logins_ms(OUT unknown_ms float8, OUT wrong_ms float8) LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz;
BEGIN
  FOR i IN 1..7 LOOP
    started := clock_timestamp();
    PERFORM api.login('nobody@acme.test', 'wrong');
    unknown_ms := least(unknown_ms, extract(epoch FROM clock_timestamp() - started) * 1000);
    started := clock_timestamp();
    PERFORM api.login('ana@acme.test', 'wrong');
    wrong_ms := least(wrong_ms, extract(epoch FROM clock_timestamp() - started) * 1000);
  END LOOP;
END $$;
SELECT unknown_ms, wrong_ms FROM pg_temp.fastest_logins_ms() \gset
SELECT ok(:unknown_ms / :wrong_ms BETWEEN 0.5 AND 2.0,
          format('unknown email (%s ms) and wrong password (%s ms) take similar time',
                 round(:unknown_ms::numeric), round(:wrong_ms::numeric)));
SELECT ok(:wrong_ms > 5, 'and both spend real hashing work');

SELECT * FROM finish();
ROLLBACK;
