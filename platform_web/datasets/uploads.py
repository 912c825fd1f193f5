"""Upload handling: the zip streams to a temporary file in FILE_UPLOAD_TEMP_DIR, never into memory."""

from __future__ import annotations

from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

# Room for the multipart boundaries and the name field around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Writes every uploaded file to a temporary file on disk, stopping once it passes `max_bytes`.

    When the limit is passed, the temporary file is closed (and so deleted)
    and `too_large` is set for the view to answer 413.
    """

    def __init__(self, request=None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int):
        if start + len(raw_data) > self.max_bytes:
            self.too_large = True
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)
