"""Drives smackql's Flight SQL front end with the ADBC Flight SQL driver.

Usage: flight_adbc.py URI USER PASSWORD KEYSPACE

The keyspace holds table `campaigns (id int PRIMARY KEY, name text,
views bigint)` with rows 1..3, and `mixed` with keys (k, c) for k in 0..4
and c in 0..5. Prints one JSON object with what it saw;
any failure raises, and the process exits non-zero.
"""

import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa


def main() -> None:
    uri, user, password, keyspace = sys.argv[1:5]
    out = {}
    with flight_sql.connect(uri, db_kwargs={"username": user, "password": password}) as conn:
        with conn.cursor() as cur:
            cur.execute(f"SELECT id, name, views FROM {keyspace}.campaigns ORDER BY id")
            table = cur.fetch_arrow_table()
            out["query"] = {
                "rows": table.to_pylist(),
                "types": [str(f.type) for f in table.schema],
            }

            cur.execute(
                f"SELECT name, views FROM {keyspace}.campaigns WHERE id = ?",
                parameters=(2,),
            )
            out["parameterised"] = cur.fetch_arrow_table().to_pylist()

            cur.execute(
                f"INSERT INTO {keyspace}.campaigns (id, name, views) VALUES (?, ?, ?)",
                parameters=(4, "delta", 40),
            )
            cur.fetchall()

            cur.execute(f"SELECT count(*) AS n FROM {keyspace}.campaigns")
            out["count_after_insert"] = cur.fetchone()[0]

            # A full scan comes as several partitions, each read on its own;
            # a plain fetch reads them all.
            scan = f"SELECT k, c FROM {keyspace}.mixed"
            partitions, _ = cur.adbc_execute_partitions(scan)
            rows = []
            for partition in partitions:
                cur.adbc_read_partition(partition)
                rows.extend(cur.fetch_arrow_table().to_pylist())
            out["partitions"] = len(partitions)
            out["partitioned_rows"] = sorted([r["k"], r["c"]] for r in rows)
            cur.execute(scan)
            out["scanned_rows"] = sorted([r["k"], r["c"]] for r in cur.fetch_arrow_table().to_pylist())

            try:
                cur.execute("SELECT * FROM no_such_schema.no_such_table")
                out["missing_table_error"] = None
            except Exception as err:  # the driver's ProgrammingError and friends
                out["missing_table_error"] = type(err).__name__ + ": " + str(err)

        objects = conn.adbc_get_objects(
            depth="all", catalog_filter="smackql", db_schema_filter=keyspace
        ).read_all().to_pylist()
        tables = []
        for catalog in objects:
            for schema in catalog["catalog_db_schemas"] or []:
                for t in schema["db_schema_tables"] or []:
                    tables.append(
                        {
                            "catalog": catalog["catalog_name"],
                            "schema": schema["db_schema_name"],
                            "table": t["table_name"],
                            "columns": [c["column_name"] for c in t["table_columns"] or []],
                        }
                    )
        out["objects"] = tables

        schema = conn.adbc_get_table_schema("campaigns", db_schema_filter=keyspace)
        out["table_schema"] = [[f.name, str(f.type)] for f in schema]
        out["table_types"] = conn.adbc_get_table_types()
    assert isinstance(table, pa.Table)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
