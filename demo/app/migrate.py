"""Apply migrations/*.sql in name order, once each, recorded in schema_migrations.

Usage: python3 migrate.py [--dir migrations] [--status]
DATABASE_URL must be set. Each file runs in its own transaction together with its record.
A lock (pg_advisory_lock) keeps two runners from racing. Exit 0 ok, 1 failure.
"""
import argparse
import glob
import hashlib
import os
import sys

import psycopg2

LOCK_ID = 7_246_001


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations"))
    ap.add_argument("--status", action="store_true", help="list applied/pending, change nothing")
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("migrate: DATABASE_URL is not set", file=sys.stderr)
        return 1
    files = sorted(glob.glob(os.path.join(args.dir, "*.sql")))
    try:
        conn = psycopg2.connect(url, connect_timeout=5)
    except psycopg2.Error as exc:
        print("migrate: cannot connect: %s" % type(exc).__name__, file=sys.stderr)
        return 1
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
    try:
        cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                         version text PRIMARY KEY,
                         checksum text NOT NULL,
                         applied_at timestamptz NOT NULL DEFAULT now())""")
        cur.execute("SELECT version, checksum FROM schema_migrations")
        applied = dict(cur.fetchall())
        n = 0
        for path in files:
            version = os.path.basename(path)
            sql = open(path, encoding="utf-8").read()
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if version in applied:
                if applied[version] != checksum:
                    print("migrate: %s changed after it was applied" % version, file=sys.stderr)
                    return 1
                if args.status:
                    print("applied  %s" % version)
                continue
            if args.status:
                print("pending  %s" % version)
                continue
            conn.autocommit = False
            try:
                with conn.cursor() as c:
                    c.execute(sql)
                    c.execute("INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)", (version, checksum))
                conn.commit()
            except psycopg2.Error as exc:
                conn.rollback()
                print("migrate: %s failed: %s" % (version, str(exc).strip().splitlines()[0]), file=sys.stderr)
                return 1
            finally:
                conn.autocommit = True
            print("migrate: applied %s" % version)
            n += 1
        if not args.status:
            print("migrate: %d applied, %d total" % (n, len(files)))
        return 0
    finally:
        cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
