"""Alembic, driven from code so `weilinli db upgrade` and start-up need no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from settings import get_settings

HERE = Path(__file__).parent / "migrations"


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", get_settings().effective_database_url.replace("%", "%%"))
    return cfg


def upgrade(revision: str = "head") -> None:
    url = get_settings().effective_database_url
    if url.startswith("sqlite"):
        get_settings().data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(config(), revision)
