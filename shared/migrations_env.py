"""The body of every service's alembic `env.py`: online mode, on a connection we pass in."""

from __future__ import annotations

from alembic import context


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `mmt migrate`, which supplies the connection")
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=config.attributes.get("version_table_schema"),
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
