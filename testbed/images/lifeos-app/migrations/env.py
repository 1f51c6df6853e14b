# Alembic environment: the database comes from DATABASE_URL (the compose environment).
import os

from alembic import context
from sqlalchemy import create_engine

url = os.environ["DATABASE_URL"]


def run_offline():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online():
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
