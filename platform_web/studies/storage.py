"""Optuna's storage is the platform's own database (RDBStorage), so stock Optuna tools read our studies.

    optuna.load_study(study_name=study.optuna_name, storage=storage_url())
    optuna-dashboard sqlite:///var/platform.sqlite3          # embedded default
    optuna-dashboard postgresql+psycopg://user@host/db        # DATABASE_URL=postgresql://...

SQLite serialises writers, so the platform refuses more than one parallel trial
there (see `parallel_trials_allowed`) and gives the connections a long busy
timeout; PostgreSQL runs any number of slots.
"""

from __future__ import annotations

import threading
import warnings

import optuna
from django.db import connections
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage
from sqlalchemy import event
from sqlalchemy.engine import URL

from platform_web.studies import conf
from platform_web.studies.models import Study
from platform_web.studies.recovery import LostTrialRetry

_lock = threading.Lock()
_storages: dict[str, RDBStorage] = {}


class StorageError(RuntimeError):
    """The database cannot hold Optuna studies (the message says what to change)."""


def _settings_dict() -> dict:
    # The live connection's dict: pytest-django renames NAME to the test database in place.
    return connections["default"].settings_dict


def is_sqlite() -> bool:
    """True when the platform's database is SQLite."""
    return "sqlite" in _settings_dict()["ENGINE"]


def parallel_trials_allowed() -> int:
    """The most parallel trials the storage supports (SQLite: one writer at a time)."""
    return 1 if is_sqlite() else 64


def storage_url() -> str:
    """SQLAlchemy URL of the platform's database, for Optuna's RDBStorage."""
    db = _settings_dict()
    engine = db["ENGINE"]
    if "sqlite" in engine:
        name = str(db["NAME"])
        if name in ("", ":memory:") or name.startswith("file:memorydb") or "mode=memory" in name:
            raise StorageError("Optuna studies need a database file: an in-memory SQLite database cannot be shared.")
        return f"sqlite:///{name}"
    if "postgresql" in engine:
        url = URL.create(
            "postgresql+psycopg",
            username=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=int(db["PORT"]) if db.get("PORT") else None,
            database=db["NAME"],
        )
        return url.render_as_string(hide_password=False)
    raise StorageError(f"Optuna studies need SQLite or PostgreSQL; the database engine is {engine}.")


def get_storage() -> RDBStorage:
    """The process's RDBStorage (one engine and connection pool per database URL).

    Heartbeats mark a trial whose worker died as failed (`conf.GRACE_SECONDS`
    after its last beat, checked whenever a slot starts a trial), and
    `LostTrialRetry` queues it again.
    """
    url = storage_url()
    with _lock:
        storage = _storages.get(url)
        if storage is None:
            engine_kwargs: dict = {"pool_pre_ping": True}  # idle connections drop (optuna #5600)
            if url.startswith("sqlite"):
                engine_kwargs["connect_args"] = {"timeout": 60}  # wait out other writers' locks
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                storage = RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=conf.HEARTBEAT_SECONDS,
                    grace_period=conf.GRACE_SECONDS,
                    heartbeat_stale_trial_callback=LostTrialRetry(max_retry=conf.MAX_RETRIES_PER_TRIAL),
                )
            if url.startswith("sqlite"):
                _begin_immediate(storage)
            _storages[url] = storage
    return storage


def _begin_immediate(storage: RDBStorage) -> None:
    """SQLite: open every Optuna transaction with BEGIN IMMEDIATE (SQLAlchemy's pysqlite recipe).

    A deferred transaction that reads, then writes after another process wrote,
    fails at once with "database is locked" instead of waiting; taking the write
    lock first makes it wait its turn (busy timeout) like Django's connections.
    """
    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, connection_record):  # noqa: ARG001
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while creating the tables predate the listeners


def load_optuna_study(study: Study, *, sampler=None, pruner=None) -> optuna.Study:
    """The Optuna study behind `study` (it must exist: see runner.ensure_optuna_study)."""
    return optuna.load_study(study_name=study.optuna_name, storage=get_storage(), sampler=sampler, pruner=pruner)


def delete_optuna_study(study: Study) -> None:
    """Remove the study's trials from the Optuna tables (nothing to do if it never started)."""
    if not study.optuna_ready:
        return
    try:
        optuna.delete_study(study_name=study.optuna_name, storage=get_storage())
    except KeyError:  # already gone
        pass
