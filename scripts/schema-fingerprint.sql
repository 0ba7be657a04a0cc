-- Everything the expense_ops extension defines, one line per fact, in a stable order. Two
-- databases with equal fingerprints carry the same extension schema (used by the upgrade test,
-- which compares a fresh install with the oldest version updated through every update script).
--
-- Covered, for the extension's member objects: the members themselves and their owners; the
-- comments on them, their columns and attributes, and on their constraints, indexes, triggers
-- and policies; functions (the md5 of pg_get_functiondef, and their properties spelt out);
-- tables, views and sequences (kind, options, row-level security), their columns, constraints,
-- indexes, view definitions, triggers with their enabled state, policies and rules; types (enum
-- labels in order, composite attributes); sequences; schemas; privileges on all of these; the
-- tables pg_dump treats as configuration, with their conditions; and the rows the extension
-- seeds (a count for each table, and the content wherever it is reproducible).
--
-- Privileges are compared as sets: each ACL's items are sorted, and an ACL never set is shown
-- as the default it stands for, because the order of grants differs between the two paths and
-- means nothing. Newlines inside a fact (view definitions, comments) are written as \n.
WITH members AS (
  SELECT d.classid, d.objid
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'expense_ops'
   WHERE d.deptype = 'e'
),
rels AS (
  SELECT c.* FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
),
procs AS (
  SELECT p.* FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
),
types AS (
  SELECT t.* FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
),
-- Objects whose comments count: the members, the relations behind member composite types, and
-- what belongs to a member relation (constraints, indexes, triggers, policies, rules).
commented AS (
  SELECT classid, objid FROM members
  UNION
  SELECT 'pg_class'::regclass, t.typrelid FROM types t WHERE t.typrelid <> 0
  UNION
  SELECT d.classid, d.objid
    FROM pg_depend d JOIN rels r ON d.refclassid = 'pg_class'::regclass AND d.refobjid = r.oid
   WHERE d.deptype IN ('a', 'i')
     AND d.classid IN ('pg_constraint'::regclass, 'pg_class'::regclass, 'pg_trigger'::regclass,
                       'pg_policy'::regclass, 'pg_rewrite'::regclass)
)
SELECT line FROM (
  SELECT format('extension %s version=%s schema=%s relocatable=%s', extname, extversion,
                extnamespace::regnamespace, extrelocatable) AS line
    FROM pg_extension WHERE extname = 'expense_ops'
  UNION ALL
  SELECT format('config %s condition=%s', c.tab, coalesce(c.cond, '<null>'))
    FROM pg_extension e, unnest(e.extconfig::regclass[], e.extcondition) AS c(tab, cond)
   WHERE e.extname = 'expense_ops'
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
  UNION ALL
  SELECT 'comment ' || pg_describe_object(c.classid, c.objid, d.objsubid) || ' = '
         || replace(d.description, E'\n', '\n')
    FROM commented c JOIN pg_description d ON d.classoid = c.classid AND d.objoid = c.objid
  UNION ALL
  -- Schemas.
  SELECT format('schema %s owner=%s acl=%s', n.nspname, pg_get_userbyid(n.nspowner),
                (SELECT string_agg(a::text, ',' ORDER BY a::text)
                   FROM unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a))
    FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
  UNION ALL
  -- Functions: the whole definition as md5, and its properties spelt out for a readable diff.
  SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) FROM procs p
   WHERE p.prokind <> 'a'
  UNION ALL
  -- Aggregates, which pg_get_functiondef does not show: their support functions and state.
  SELECT format('aggregate %s transition=%s state=%s final=%s combine=%s serial=%s deserial=%s '
                'initial=%s final_modify=%s', p.oid::regprocedure, a.aggtransfn::regprocedure,
                format_type(a.aggtranstype, NULL), a.aggfinalfn, a.aggcombinefn, a.aggserialfn,
                a.aggdeserialfn, coalesce(a.agginitval, '<none>'), a.aggfinalmodify)
    FROM procs p JOIN pg_aggregate a ON a.aggfnoid = p.oid
  UNION ALL
  SELECT format('function %s owner=%s language=%s kind=%s volatility=%s strict=%s security_definer=%s '
                'leakproof=%s parallel=%s cost=%s rows=%s returns_set=%s config=%s acl=%s',
                p.oid::regprocedure, pg_get_userbyid(p.proowner), l.lanname, p.prokind, p.provolatile,
                p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel, p.procost, p.prorows,
                p.proretset, coalesce(p.proconfig::text, '<none>'),
                (SELECT string_agg(a::text, ',' ORDER BY a::text)
                   FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) a))
    FROM procs p JOIN pg_language l ON l.oid = p.prolang
  UNION ALL
  -- Relations: tables, views, sequences.
  SELECT format('relation %s kind=%s persistence=%s owner=%s options=%s row_security=%s '
                'force_row_security=%s replica_identity=%s acl=%s',
                c.oid::regclass, c.relkind, c.relpersistence, pg_get_userbyid(c.relowner),
                coalesce(c.reloptions::text, '<none>'), c.relrowsecurity, c.relforcerowsecurity,
                c.relreplident,
                (SELECT string_agg(a::text, ',' ORDER BY a::text)
                   FROM unnest(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's'::"char" ELSE 'r'::"char" END,
                                                             c.relowner))) a))
    FROM rels c
  UNION ALL
  -- Columns, with their position among the live columns (tests rely on the column order).
  SELECT format('column %s.%s position=%s type=%s notnull=%s default=%s identity=%s generated=%s '
                'collation=%s acl=%s',
                a.attrelid::regclass, a.attname,
                row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                coalesce(replace(pg_get_expr(ad.adbin, ad.adrelid), E'\n', '\n'), '<none>'), a.attidentity, a.attgenerated,
                CASE WHEN a.attcollation = 0 THEN '<none>' ELSE a.attcollation::regcollation::text END,
                coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '<none>'))
    FROM rels c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('constraint %s %s %s', co.conrelid::regclass, co.conname,
                replace(pg_get_constraintdef(co.oid), E'\n', '\n'))
    FROM rels c JOIN pg_constraint co ON co.conrelid = c.oid
  UNION ALL
  SELECT format('index %s clustered=%s replica_identity=%s', replace(pg_get_indexdef(i.indexrelid), E'\n', '\n'), i.indisclustered,
                i.indisreplident)
    FROM rels c JOIN pg_index i ON i.indrelid = c.oid
  UNION ALL
  SELECT format('view %s = %s', c.oid::regclass, replace(pg_get_viewdef(c.oid), E'\n', '\n'))
    FROM rels c WHERE c.relkind IN ('v', 'm')
  UNION ALL
  SELECT format('trigger %s %s enabled=%s %s', t.tgrelid::regclass, t.tgname, t.tgenabled,
                replace(pg_get_triggerdef(t.oid), E'\n', '\n'))
    FROM rels c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
  UNION ALL
  SELECT format('policy %s %s command=%s permissive=%s roles=%s using=%s with_check=%s',
                p.polrelid::regclass, p.polname, p.polcmd, p.polpermissive,
                (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END, ','
                                   ORDER BY CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END)
                   FROM unnest(p.polroles) r),
                coalesce(replace(pg_get_expr(p.polqual, p.polrelid), E'\n', '\n'), '<none>'),
                coalesce(replace(pg_get_expr(p.polwithcheck, p.polrelid), E'\n', '\n'), '<none>'))
    FROM rels c JOIN pg_policy p ON p.polrelid = c.oid
  UNION ALL
  SELECT format('rule %s %s enabled=%s %s', r.ev_class::regclass, r.rulename, r.ev_enabled,
                replace(pg_get_ruledef(r.oid), E'\n', '\n'))
    FROM rels c JOIN pg_rewrite r ON r.ev_class = c.oid AND r.rulename <> '_RETURN'
  UNION ALL
  -- Sequences, and the column that owns each.
  SELECT format('sequence %s type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s owned_by=%s',
                s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                s.seqcache, s.seqcycle,
                coalesce((SELECT format('%s.%s (%s)', d.refobjid::regclass, a.attname, d.deptype)
                            FROM pg_depend d
                            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '<none>'))
    FROM rels c JOIN pg_sequence s ON s.seqrelid = c.oid
  UNION ALL
  -- Types: enum labels in order, composite attributes in order, a base type's I/O and storage.
  SELECT format('base type %s input=%s output=%s receive=%s send=%s length=%s alignment=%s storage=%s',
                t.oid::regtype, t.typinput, t.typoutput, t.typreceive, t.typsend, t.typlen, t.typalign,
                t.typstorage)
    FROM types t WHERE t.typtype = 'b'
  UNION ALL
  SELECT format('type %s kind=%s owner=%s acl=%s', t.oid::regtype, t.typtype, pg_get_userbyid(t.typowner),
                (SELECT string_agg(a::text, ',' ORDER BY a::text)
                   FROM unnest(coalesce(t.typacl, acldefault('T', t.typowner))) a))
    FROM types t
  UNION ALL
  SELECT format('enum %s labels=%s', t.oid::regtype,
                (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
    FROM types t WHERE t.typtype = 'e'
  UNION ALL
  SELECT format('attribute %s.%s position=%s type=%s collation=%s', t.oid::regtype, a.attname,
                row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attcollation = 0 THEN '<none>' ELSE a.attcollation::regcollation::text END)
    FROM types t JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  -- The rows the extension seeds: how many in every table, and what they hold, except in
  -- iam.signing_keys, whose first key is random, and ops.backup_settings, whose one row holds
  -- the time of the install or update.
  SELECT format('rows %s count=%s content=%s', c.oid::regclass,
                (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass),
                                                     false, true, '')))[1]::text,
                CASE WHEN c.oid = to_regclass('iam.signing_keys') THEN '<random>'
                     WHEN c.oid = to_regclass('ops.backup_settings') THEN '<the time of install>'
                     ELSE coalesce((xpath('/row/h/text()',
                                          query_to_xml(format('SELECT md5(string_agg(t::text, E''\n'' ORDER BY t::text)) AS h FROM %s t',
                                                              c.oid::regclass), false, true, '')))[1]::text,
                                   '<empty>') END)
    FROM rels c WHERE c.relkind IN ('r', 'p')
) facts
ORDER BY line COLLATE "C";
