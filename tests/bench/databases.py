"""PayLab's four databases on a PostgreSQL server, for `make bench --database-server URL`.

Fresh databases with a random prefix, made before the bench and dropped after it (every
connection to them closed first), so a bench never touches anything it did not make.
"""
import secrets

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# The setting that points each of PayLab's databases elsewhere (see app/common/instance.py).
SETTINGS = {"paylab": "DATABASE_URL", "shop": "SHOP_DATABASE_URL", "bank": "BANK_DATABASE_URL",
            "idp": "IDP_DATABASE_URL"}


class BenchDatabases:
    def __init__(self, server_url):
        self.server = make_url(server_url).set(drivername="postgresql+psycopg")
        self.prefix = f"paylab_bench_{secrets.token_hex(4)}"
        self.names = {database: f"{self.prefix}_{database}" for database in SETTINGS}

    def _admin(self):
        return create_engine(self.server.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def create(self):
        admin = self._admin()
        try:
            with admin.connect() as sql:
                for name in self.names.values():
                    sql.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self

    def settings(self):
        return {setting: self.server.set(database=self.names[database]).render_as_string(hide_password=False)
                for database, setting in SETTINGS.items()}

    def drop(self):
        admin = self._admin()
        try:
            with admin.connect() as sql:
                for name in self.names.values():
                    sql.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
                    sql.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        finally:
            admin.dispose()
