"""Alembic environment: the app's models, the app's database URL, batch mode on SQLite."""

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table on SQLModel.metadata
from app.db import make_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def database_url() -> str:
    """The URL handed over by `flask db`, or the app's own configuration."""
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app import create_app

    return create_app().config["DATABASE_URL"]


def configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER constraints; batch mode copies the table instead.
        render_as_batch=kwargs.pop("is_sqlite"),
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = database_url()
    configure(url=url, literal_binds=True, is_sqlite=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    try:
        with engine.connect() as connection:
            is_sqlite = connection.dialect.name == "sqlite"
            if is_sqlite:
                # Batch mode drops and recreates tables; foreign keys must be off meanwhile, and
                # the pragma only takes effect outside a transaction.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            configure(connection=connection, is_sqlite=is_sqlite)
            with context.begin_transaction():
                context.run_migrations()
            if is_sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
