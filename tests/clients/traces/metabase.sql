-- Metabase's queries on connecting and browsing, as recorded from Metabase v0.55.1
-- (the traces datafusion-postgres replays in its own tests), pointed at the
-- test's keyspace. tests/tests/it/drivers.rs runs each over the extended
-- protocol, as pgjdbc sends them: none may fail. `-- expect: text` before
-- a statement: some row of its result, as text, contains `text`.
-- Placeholders: {keyspace}, and {table_oid} (the oid of all_types).

-- ----
SET extra_float_digits = 2
-- ----
SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'
-- ----
SHOW TRANSACTION ISOLATION LEVEL
-- ----
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
-- ----
-- expect: {keyspace}
SELECT nspname AS "TABLE_SCHEM", current_database() AS "TABLE_CATALOG" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY "TABLE_SCHEM"
-- ----
-- expect: all_types
with table_privileges as (
         select
           NULL as role,
           t.schemaname as schema,
           t.objectname as table,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
           pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
         from (
           select schemaname, tablename as objectname from pg_catalog.pg_tables
           union
           select schemaname, viewname as objectname from pg_catalog.pg_views
           union
           select schemaname, matviewname as objectname from pg_catalog.pg_matviews
         ) t
         where t.schemaname !~ '^pg_'
           and t.schemaname <> 'information_schema'
           and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
        )
        select t.*
        from table_privileges t
-- ----
-- expect: all_types
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = '0') AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ('{keyspace}')) ORDER BY "type" ASC, "schema" ASC, "name" ASC
-- ----
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
-- ----
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
-- ----
show timezone
-- ----
-- The statements below were reconstructed from the source of Metabase
-- (v0.50 and later: src/metabase/driver/postgres.clj, sql_jdbc/sync and the
-- query processor), with HoneySQL written out and bound values inlined:
-- what it sends when a database is added and synced, and for questions
-- built in its editor. Each query it runs starts with its remark line.
SELECT 1
-- ----
select current_catalog
-- ----
SET SESSION TIMEZONE TO 'UTC'
-- ----
-- expect: all_types
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", NULLIF("stat"."n_live_tup", 0) AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = 0) AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ('{keyspace}')) ORDER BY "type" ASC, "schema" ASC, "name" ASC
-- ----
SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)
-- ----
-- expect: all_types
-- expect: c_int
SELECT "c"."column_name" AS "name", CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%s', "c"."udt_name") ELSE FORMAT('"%s"."%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type", "c"."ordinal_position" - 1 AS "database-position", "c"."table_schema" AS "table-schema", "c"."table_name" AS "table-name", "pk"."column_name" IS NOT NULL AS "pk?", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID), "c"."ordinal_position") AS "field-comment", (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO') AND NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO')) AS "database-required", "column_default" AS "database-default", (("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment", "is_generated" = 'ALWAYS' AS "database-is-generated", "is_nullable" = 'YES' AS "database-is-nullable" FROM "information_schema"."columns" AS "c" LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name" FROM "information_schema"."table_constraints" AS "tc" INNER JOIN "information_schema"."key_column_usage" AS "kc" ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema") AND ("tc"."table_name" = "kc"."table_name") WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk" ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name") AND ("c"."column_name" = "pk"."column_name") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND ("c"."table_schema" IN ('{keyspace}')) UNION ALL SELECT "pa"."attname" AS "name", CASE WHEN "ptn"."nspname" IN ('public', 'pg_catalog') THEN FORMAT('%s', "pt"."typname") ELSE FORMAT('"%s"."%s"', "ptn"."nspname", "pt"."typname") END AS "database-type", "pa"."attnum" - 1 AS "database-position", "pn"."nspname" AS "table-schema", "pc"."relname" AS "table-name", FALSE AS "pk?", NULL AS "field-comment", FALSE AS "database-required", NULL AS "database-default", FALSE AS "database-is-auto-increment", FALSE AS "database-is-generated", FALSE AS "database-is-nullable" FROM "pg_catalog"."pg_class" AS "pc" INNER JOIN "pg_catalog"."pg_namespace" AS "pn" ON "pn"."oid" = "pc"."relnamespace" INNER JOIN "pg_catalog"."pg_attribute" AS "pa" ON "pa"."attrelid" = "pc"."oid" INNER JOIN "pg_catalog"."pg_type" AS "pt" ON "pt"."oid" = "pa"."atttypid" INNER JOIN "pg_catalog"."pg_namespace" AS "ptn" ON "ptn"."oid" = "pt"."typnamespace" WHERE ("pc"."relkind" = 'm') AND ("pa"."attnum" >= 1) AND ("pn"."nspname" IN ('{keyspace}')) ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC
-- ----
-- expect: all_types
-- expect: c_int
SELECT "c"."column_name" AS "name", CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%s', "c"."udt_name") ELSE FORMAT('"%s"."%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type", "c"."ordinal_position" - 1 AS "database-position", "c"."table_schema" AS "table-schema", "c"."table_name" AS "table-name", "pk"."column_name" IS NOT NULL AS "pk?", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID), "c"."ordinal_position") AS "field-comment", (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO') AND NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO')) AS "database-required", (("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment" FROM "information_schema"."columns" AS "c" LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name" FROM "information_schema"."table_constraints" AS "tc" INNER JOIN "information_schema"."key_column_usage" AS "kc" ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema") AND ("tc"."table_name" = "kc"."table_name") WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk" ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name") AND ("c"."column_name" = "pk"."column_name") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND ("c"."table_schema" IN ('{keyspace}')) AND ("c"."table_name" IN ('all_types')) UNION ALL SELECT "pa"."attname" AS "name", CASE WHEN "ptn"."nspname" IN ('public', 'pg_catalog') THEN FORMAT('%s', "pt"."typname") ELSE FORMAT('"%s"."%s"', "ptn"."nspname", "pt"."typname") END AS "database-type", "pa"."attnum" - 1 AS "database-position", "pn"."nspname" AS "table-schema", "pc"."relname" AS "table-name", FALSE AS "pk?", NULL AS "field-comment", FALSE AS "database-required", FALSE AS "database-is-auto-increment" FROM "pg_catalog"."pg_class" AS "pc" INNER JOIN "pg_catalog"."pg_namespace" AS "pn" ON "pn"."oid" = "pc"."relnamespace" INNER JOIN "pg_catalog"."pg_attribute" AS "pa" ON "pa"."attrelid" = "pc"."oid" INNER JOIN "pg_catalog"."pg_type" AS "pt" ON "pt"."oid" = "pa"."atttypid" INNER JOIN "pg_catalog"."pg_namespace" AS "ptn" ON "ptn"."oid" = "pt"."typnamespace" WHERE ("pc"."relkind" = 'm') AND ("pa"."attnum" >= 1) AND ("pn"."nspname" IN ('{keyspace}')) AND ("pc"."relname" IN ('all_types')) ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC
-- ----
SELECT "fk_ns"."nspname" AS "fk-table-schema", "fk_table"."relname" AS "fk-table-name", "fk_column"."attname" AS "fk-column-name", "pk_ns"."nspname" AS "pk-table-schema", "pk_table"."relname" AS "pk-table-name", "pk_column"."attname" AS "pk-column-name" FROM "pg_constraint" AS "c" INNER JOIN "pg_class" AS "fk_table" ON "c"."conrelid" = "fk_table"."oid" INNER JOIN "pg_namespace" AS "fk_ns" ON "c"."connamespace" = "fk_ns"."oid" INNER JOIN "pg_attribute" AS "fk_column" ON "c"."conrelid" = "fk_column"."attrelid" INNER JOIN "pg_class" AS "pk_table" ON "c"."confrelid" = "pk_table"."oid" INNER JOIN "pg_namespace" AS "pk_ns" ON "pk_table"."relnamespace" = "pk_ns"."oid" INNER JOIN "pg_attribute" AS "pk_column" ON "c"."confrelid" = "pk_column"."attrelid" WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND ("c"."contype" = 'f'::char) AND ("fk_column"."attnum" = ANY(c.conkey)) AND ("pk_column"."attnum" = ANY(c.confkey)) AND ("fk_ns"."nspname" IN ('{keyspace}')) ORDER BY "fk-table-schema" ASC, "fk-table-name" ASC
-- ----
SELECT TRUE AS "_" FROM "{keyspace}"."all_types" WHERE 1 <> 1 LIMIT 0
-- ----
SELECT * FROM "{keyspace}"."all_types" WHERE 1 <> 1 LIMIT 0
-- ----
-- Metabase
SELECT "{keyspace}"."all_types"."c_double" AS "c_double", SUBSTRING("{keyspace}"."all_types"."c_text", 1, 1234) AS "substring8823", "{keyspace}"."all_types"."c_list" AS "c_list", "{keyspace}"."all_types"."c_timestamp" AS "c_timestamp", "{keyspace}"."all_types"."c_uuid" AS "c_uuid", "{keyspace}"."all_types"."c_int" AS "c_int" FROM "{keyspace}"."all_types" LIMIT 10000
-- ----
-- expect: all_types
SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), a.attidentity != '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%' FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) JOIN pg_catalog.pg_attribute a ON (c.oid = a.attrelid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) LEFT JOIN pg_catalog.pg_attrdef d ON (d.adrelid = a.attrelid AND d.adnum = a.attnum) JOIN (SELECT {table_oid} AS oid , 1 AS attnum UNION ALL SELECT {table_oid}, 2 UNION ALL SELECT {table_oid}, 3 UNION ALL SELECT {table_oid}, 4 UNION ALL SELECT {table_oid}, 5 UNION ALL SELECT {table_oid}, 6 UNION ALL SELECT {table_oid}, 7 UNION ALL SELECT {table_oid}, 8) vals ON (c.oid = vals.oid AND a.attnum = vals.attnum) where c.oid in ({table_oid})
-- ----
-- Metabase
SELECT "{keyspace}"."all_types"."c_text" AS "c_text" FROM "{keyspace}"."all_types" GROUP BY "{keyspace}"."all_types"."c_text" ORDER BY "{keyspace}"."all_types"."c_text" ASC LIMIT 1000
-- ----
-- expect: c_int
-- Metabase
SELECT * FROM (SELECT 'c_text' AS "field_name", CAST("c_text" AS text) AS "value_out" FROM "{keyspace}"."all_types" GROUP BY CAST("c_text" AS text) LIMIT 1000) AS "_arm" UNION ALL SELECT * FROM (SELECT 'c_int' AS "field_name", CAST("c_int" AS text) AS "value_out" FROM "{keyspace}"."all_types" GROUP BY CAST("c_int" AS text) LIMIT 1000) AS "_arm"
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 3f1c0a9e5b7d2c4e6a8b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a
SELECT "{keyspace}"."all_types"."id" AS "id", "{keyspace}"."all_types"."c_date" AS "c_date", "{keyspace}"."all_types"."c_double" AS "c_double", "{keyspace}"."all_types"."c_text" AS "c_text", "{keyspace}"."all_types"."c_list" AS "c_list", "{keyspace}"."all_types"."c_timestamp" AS "c_timestamp", "{keyspace}"."all_types"."c_uuid" AS "c_uuid", "{keyspace}"."all_types"."c_int" AS "c_int" FROM "{keyspace}"."all_types" LIMIT 2000
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 8b2e4d6f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b
SELECT "{keyspace}"."all_types"."id" AS "id", "{keyspace}"."all_types"."c_date" AS "c_date", "{keyspace}"."all_types"."c_double" AS "c_double", "{keyspace}"."all_types"."c_text" AS "c_text", "{keyspace}"."all_types"."c_list" AS "c_list", "{keyspace}"."all_types"."c_timestamp" AS "c_timestamp", "{keyspace}"."all_types"."c_uuid" AS "c_uuid", "{keyspace}"."all_types"."c_int" AS "c_int" FROM "{keyspace}"."all_types" ORDER BY "{keyspace}"."all_types"."c_timestamp" DESC LIMIT 2000
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: a54de39466cbf3e82ff09c5a9a2bccf1f922bf9fd59b2717c1ad5e09a1c0bfbc
SELECT COUNT(*) AS "count" FROM "{keyspace}"."all_types"
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: c7e9a1b3d5f7e9c1a3b5d7f9e1c3a5b7d9f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9
SELECT COUNT(DISTINCT "{keyspace}"."all_types"."c_text") AS "count" FROM "{keyspace}"."all_types"
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 0d2f4b6a8c1e3d5f7b9a2c4e6d8f1b3a5c7e9d2f4b6a8c1e3d5f7b9a2c4e6d8f
SELECT DATE_TRUNC('month', "{keyspace}"."all_types"."c_timestamp") AS "c_timestamp", COUNT(*) AS "count" FROM "{keyspace}"."all_types" GROUP BY DATE_TRUNC('month', "{keyspace}"."all_types"."c_timestamp") ORDER BY DATE_TRUNC('month', "{keyspace}"."all_types"."c_timestamp") ASC
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 5a7c9e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c
SELECT DATE_TRUNC('week', ("{keyspace}"."all_types"."c_timestamp" + INTERVAL '1 day')) + INTERVAL '-1 day' AS "c_timestamp", COUNT(*) AS "count" FROM "{keyspace}"."all_types" GROUP BY DATE_TRUNC('week', ("{keyspace}"."all_types"."c_timestamp" + INTERVAL '1 day')) + INTERVAL '-1 day' ORDER BY DATE_TRUNC('week', ("{keyspace}"."all_types"."c_timestamp" + INTERVAL '1 day')) + INTERVAL '-1 day' ASC
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: e1c3a5b7d9f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9a1b3d5f7e9c1a3b5d7f9e1c3
SELECT CAST(CAST("{keyspace}"."all_types"."c_timestamp" AS date) AS timestamptz) AS "c_timestamp", COUNT(*) AS "count" FROM "{keyspace}"."all_types" GROUP BY CAST(CAST("{keyspace}"."all_types"."c_timestamp" AS date) AS timestamptz) ORDER BY CAST(CAST("{keyspace}"."all_types"."c_timestamp" AS date) AS timestamptz) ASC
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 9f1e3d5c7b9a2f4e6d8c0b1a3f5e7d9c2b4a6f8e0d1c3b5a7f9e2d4c6b8a0f1e
SELECT CAST(DATE_TRUNC('month', "{keyspace}"."all_types"."c_date") AS date) AS "c_date", SUM("{keyspace}"."all_types"."c_double") AS "sum" FROM "{keyspace}"."all_types" GROUP BY CAST(DATE_TRUNC('month', "{keyspace}"."all_types"."c_date") AS date) ORDER BY CAST(DATE_TRUNC('month', "{keyspace}"."all_types"."c_date") AS date) ASC
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d
SELECT "{keyspace}"."all_types"."c_text" AS "c_text", COUNT(*) AS "count" FROM "{keyspace}"."all_types" GROUP BY "{keyspace}"."all_types"."c_text" ORDER BY "{keyspace}"."all_types"."c_text" ASC
-- ----
-- expect: ünïcödé
-- Metabase:: userID: 1 queryType: MBQL queryHash: 6d8f0b1a3c5e7d9f2b4a6c8e0d1f3b5a7c9e2d4f6b8a0c1e3d5f7b9a2c4e6d8f
SELECT "{keyspace}"."all_types"."id" AS "id", "{keyspace}"."all_types"."c_date" AS "c_date", "{keyspace}"."all_types"."c_double" AS "c_double", "{keyspace}"."all_types"."c_text" AS "c_text", "{keyspace}"."all_types"."c_list" AS "c_list", "{keyspace}"."all_types"."c_timestamp" AS "c_timestamp", "{keyspace}"."all_types"."c_uuid" AS "c_uuid", "{keyspace}"."all_types"."c_int" AS "c_int" FROM "{keyspace}"."all_types" WHERE ("{keyspace}"."all_types"."c_timestamp" >= timestamp with time zone '2024-10-01 00:00:00.000 +00:00') AND ("{keyspace}"."all_types"."c_timestamp" < timestamp with time zone '2024-11-01 00:00:00.000 +00:00') LIMIT 2000
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 4c6e8a0b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a7c
SELECT SUM("{keyspace}"."all_types"."c_double") AS "sum" FROM "{keyspace}"."all_types" WHERE ("{keyspace}"."all_types"."c_date" >= date '2024-11-01') AND ("{keyspace}"."all_types"."c_date" < date '2024-12-01')
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5
SELECT "{keyspace}"."all_types"."id" AS "id", "{keyspace}"."all_types"."c_date" AS "c_date", "{keyspace}"."all_types"."c_double" AS "c_double", "{keyspace}"."all_types"."c_text" AS "c_text", "{keyspace}"."all_types"."c_list" AS "c_list", "{keyspace}"."all_types"."c_timestamp" AS "c_timestamp", "{keyspace}"."all_types"."c_uuid" AS "c_uuid", "{keyspace}"."all_types"."c_int" AS "c_int" FROM "{keyspace}"."all_types" WHERE ("{keyspace}"."all_types"."c_timestamp" >= CAST(CAST((NOW() + INTERVAL '-30 day') AS date) AS timestamptz)) AND ("{keyspace}"."all_types"."c_timestamp" < CAST(CAST(NOW() AS date) AS timestamptz)) LIMIT 2000
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4
SELECT DATE_TRUNC('month', "{keyspace}"."all_types"."c_timestamp") AS "c_timestamp", COUNT(*) AS "count" FROM "{keyspace}"."all_types" WHERE ("{keyspace}"."all_types"."c_timestamp" >= DATE_TRUNC('month', (NOW() + INTERVAL '-3 month'))) AND ("{keyspace}"."all_types"."c_timestamp" < DATE_TRUNC('month', NOW())) GROUP BY DATE_TRUNC('month', "{keyspace}"."all_types"."c_timestamp") ORDER BY DATE_TRUNC('month', "{keyspace}"."all_types"."c_timestamp") ASC
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b
SELECT "{keyspace}"."all_types"."c_text" AS "c_text" FROM "{keyspace}"."all_types" WHERE LOWER("{keyspace}"."all_types"."c_text") LIKE '%a%' ESCAPE '\' GROUP BY "{keyspace}"."all_types"."c_text" ORDER BY "{keyspace}"."all_types"."c_text" ASC LIMIT 100
-- ----
-- Metabase:: userID: 1 queryType: MBQL queryHash: 1a3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c
SELECT "{keyspace}"."all_types"."id" AS "id", "{keyspace}"."all_types"."c_date" AS "c_date", "{keyspace}"."all_types"."c_double" AS "c_double", "{keyspace}"."all_types"."c_text" AS "c_text", "{keyspace}"."all_types"."c_list" AS "c_list", "{keyspace}"."all_types"."c_timestamp" AS "c_timestamp", "{keyspace}"."all_types"."c_uuid" AS "c_uuid", "{keyspace}"."all_types"."c_int" AS "c_int" FROM "{keyspace}"."all_types" WHERE "{keyspace}"."all_types"."id" = 1 LIMIT 2000
-- ----
-- Index sync (describe-table-indexes, Metabase v0.47 to v0.55): the first
-- column of each index.
-- expect: all_types
SELECT "tmp"."table-schema", "tmp"."table-name", TRIM(BOTH '"' FROM PG_CATALOG.PG_GET_INDEXDEF("tmp"."ci_oid", "tmp"."pos", FALSE)) AS "field-name" FROM (SELECT "n"."nspname" AS "table-schema", "ct"."relname" AS "table-name", "ci"."oid" AS "ci_oid", (INFORMATION_SCHEMA._PG_EXPANDARRAY("i"."indkey"))."n" AS "pos" FROM "pg_catalog"."pg_class" AS "ct" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "ct"."relnamespace" = "n"."oid" INNER JOIN "pg_catalog"."pg_index" AS "i" ON "ct"."oid" = "i"."indrelid" INNER JOIN "pg_catalog"."pg_class" AS "ci" ON "ci"."oid" = "i"."indexrelid" WHERE (PG_CATALOG.PG_GET_EXPR("i"."indpred", "i"."indrelid") IS NULL) AND n.nspname !~ '^information_schema|catalog_history|pg_') AS "tmp" WHERE "tmp"."pos" = 1
