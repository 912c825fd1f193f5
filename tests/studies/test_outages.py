"""A slot task tells a service being away (retry later) from a broken study (fail it) by the error's cause chain."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy.exc
from django.db import OperationalError
from optuna.exceptions import StorageInternalError

from worker.studies.outages import is_outage


def raised(make):
    try:
        make()
    except Exception as e:  # noqa: BLE001 - the test wants whatever came out
        return e
    raise AssertionError("nothing raised")


def optuna_after_a_failed_commit():
    """What Optuna's optimize raised when PostgreSQL restarted under it: an UnboundLocalError while handling
    the StorageInternalError of a commit that could not reach the server."""
    try:
        try:
            raise sqlalchemy.exc.OperationalError("UPDATE trials", {}, ConnectionRefusedError("refused"))
        except sqlalchemy.exc.OperationalError as e:
            raise StorageInternalError("An exception is raised during the commit.") from e
    except StorageInternalError:
        raise UnboundLocalError("cannot access local variable 'updated_state'") from None


@pytest.mark.parametrize(
    "make",
    [
        lambda: (_ for _ in ()).throw(OperationalError("connection refused")),
        lambda: (_ for _ in ()).throw(redis.ConnectionError("Error 111")),
        optuna_after_a_failed_commit,
    ],
    ids=["django", "redis", "optuna-during-a-failed-commit"],
)
def test_errors_of_an_unreachable_service_are_outages(make):
    assert is_outage(raised(make))


def test_other_errors_are_not():
    assert not is_outage(raised(lambda: {}["missing"]))
    assert not is_outage(raised(lambda: int("x")))
