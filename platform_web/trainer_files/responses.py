"""Streaming responses that stay streams under ASGI (daphne serves the platform).

Django's ASGI handler reads a synchronous `streaming_content` into one list before sending
it, so a dataset's tar or a checkpoint would sit whole in memory. These pull one chunk at a
time in a worker thread instead; under WSGI (tests' Client) they behave as their bases.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import FileResponse, StreamingHttpResponse

_DONE = object()


class _ChunkByChunk:
    async def __aiter__(self):
        iterator = iter(self.streaming_content)
        pull = sync_to_async(next, thread_sensitive=False)
        while (part := await pull(iterator, _DONE)) is not _DONE:
            yield part


class StreamedResponse(_ChunkByChunk, StreamingHttpResponse):
    """A StreamingHttpResponse of a synchronous iterator, sent chunk by chunk under ASGI."""


class StreamedFileResponse(_ChunkByChunk, FileResponse):
    """A FileResponse read and sent a megabyte at a time, under ASGI too."""

    block_size = 1 << 20
