"""Celery's Redis transport, made to survive Redis restarting under a running worker.

When the broker connection drops, Celery's consumer closes the connection and
its channels. kombu clears the transport's `client` first and then, in
`Channel.close()`, tries to give back the channel's unacknowledged messages,
which needs `transport.client` to find Redis: the worker dies with
"Unrecoverable error: AttributeError: 'NoneType' object has no attribute
'hostname'" (kombu 5.7, seen in tests/faults/test_services_restarted.py).

Here a channel remembers the connection it was opened on and puts it back for
that last step, so closing ends in a connection error (ignored; the worker
reconnects, and the messages come back after the visibility timeout) instead of
killing the worker. Selected by `CELERY_BROKER_TRANSPORT` in settings.
"""

from __future__ import annotations

from kombu.transport import redis


class Channel(redis.Channel):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._opened_by = self.connection.client

    def close(self) -> None:
        if self.connection.client is None and self._opened_by is not None:
            self.connection.client = self._opened_by
        super().close()


class Transport(redis.Transport):
    Channel = Channel
