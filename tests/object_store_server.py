"""A real S3 endpoint for tests: moto's server on a free port, in a thread of the test process.

Processes the tests start (trainers, workers) reach it over HTTP like MinIO. The
`object_store_env` fixture (tests/conftest.py) yields the environment that points at it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from trainer_api.object_store import ObjectStore


@contextlib.contextmanager
def object_store_server(bucket: str | None = None) -> Iterator[dict[str, str]]:
    """Start moto's S3 server on 127.0.0.1 and a free port, create the bucket; yield the environment for it.

    {OBJECT_STORAGE_BUCKET, OBJECT_STORAGE_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION}:
    pass it to `ObjectStore.from_environment` or into a child process's environment.
    """
    from moto.server import ThreadedMotoServer  # here: moto takes over a second to import, and conftest imports this

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {
            "OBJECT_STORAGE_BUCKET": bucket or f"tune-test-{uuid.uuid4().hex[:12]}",
            "OBJECT_STORAGE_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        store = ObjectStore.from_environment(env)
        store.client.create_bucket(Bucket=env["OBJECT_STORAGE_BUCKET"])
        yield env
    finally:
        server.stop()
