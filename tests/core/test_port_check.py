"""The launcher's port check: a port whose old connections linger in TIME_WAIT is free to start on again."""

from __future__ import annotations

import socket

from platform_web.core.launcher import free_port, port_is_free


def test_a_port_with_connections_in_time_wait_is_free_but_a_listening_one_is_not():
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    accepted, _ = listener.accept()
    assert not port_is_free("127.0.0.1", port)  # someone listens: in use
    accepted.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
    client.close()
    listener.close()
    assert port_is_free("127.0.0.1", port)  # as after a crash: `make up` starts again at once
