"""Dynamic batching: images for one model that arrive within a few milliseconds share one forward pass.

Each model has a queue (`ModelQueue`). The first image to arrive opens a window of
`window_s` seconds; the images that come in meanwhile, up to `max_batch`, go with it
into one forward pass, run in the service's one forward thread so that the event
loop keeps accepting requests. Each request awaits its own images' answers. Images
that arrive while a pass runs wait for the next one, which starts at once if their
window has already passed. `window_s=0, max_batch=1` is one image at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from trainer_api import engine
from trainer_api.engine.images import UnreadableImage
from trainer_api.predictions import ModelCache, answer_rows, decode_image

# An image's outcome: its ranked rows, or the reason it could not be read.
Outcome = list[dict] | str


@dataclass
class _Waiting:
    data: bytes
    top_k: int
    future: asyncio.Future
    arrived: float


class ModelQueue:
    """The images waiting for one model's next forward pass, and the task that runs the passes."""

    def __init__(self, batching: Batching, path: Path) -> None:
        self.batching = batching
        self.path = path
        self.waiting: list[_Waiting] = []
        self._full = asyncio.Event()
        self._task: asyncio.Task | None = None

    def submit(self, data: bytes, top_k: int) -> asyncio.Future:
        """Queue one image; the future gives (its outcome, the model's class names)."""
        loop = asyncio.get_running_loop()
        item = _Waiting(data, top_k, loop.create_future(), loop.time())
        self.waiting.append(item)
        if len(self.waiting) >= self.batching.max_batch:
            self._full.set()
        if self._task is None or self._task.done():  # the task ends when the queue is empty
            self._task = loop.create_task(self._drain())
        return item.future

    def idle(self) -> bool:
        return not self.waiting and (self._task is None or self._task.done())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        batching = self.batching
        while self.waiting:
            wait = self.waiting[0].arrived + batching.window_s - loop.time()
            if wait > 0 and len(self.waiting) < batching.max_batch:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), wait)
            batch = [item for item in self.waiting[: batching.max_batch] if not item.future.done()]
            del self.waiting[: batching.max_batch]
            if not batch:  # their requests were cancelled (the clients went away)
                continue
            work = [(item.data, item.top_k) for item in batch]
            try:
                outcomes, names = await loop.run_in_executor(batching.executor, batching.forward, self.path, work)
            except Exception as e:  # noqa: BLE001 - the model could not be loaded: every request says why
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(e)
                continue
            for item, outcome in zip(batch, outcomes, strict=True):
                if not item.future.done():
                    item.future.set_result((outcome, names))


class Batching:
    """A queue per model, one forward thread for them all, and a record of the passes' sizes."""

    def __init__(self, cache: ModelCache, *, window_ms: float, max_batch: int) -> None:
        self.cache = cache
        self.window_s = max(0.0, window_ms) / 1000.0
        self.max_batch = max(1, max_batch)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        self.queues: dict[Path, ModelQueue] = {}
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # images per forward pass, the latest last
        self.forward_passes = 0
        self.images = 0
        self._count_lock = threading.Lock()

    async def classify(self, path: Path, images: list[bytes], top_k: int) -> tuple[list[Outcome], list[str]]:
        """Each image's outcome (in order) and the model's class names; ModelNotFound if it cannot load."""
        queue = self.queues.get(path)
        if queue is None:
            if len(self.queues) > 64:  # forget the queues of models nobody asked for lately
                self.queues = {key: q for key, q in self.queues.items() if not q.idle()}
            queue = self.queues[path] = ModelQueue(self, path)
        answers = await asyncio.gather(*(queue.submit(data, top_k) for data in images))
        return [outcome for outcome, _ in answers], answers[0][1]

    def forward(self, path: Path, work: list[tuple[bytes, int]]) -> tuple[list[Outcome], list[str]]:
        """In the forward thread: decode the images, one forward pass, each image's top-k of its own request."""
        network, metadata = self.cache.load(path)
        outcomes: list[Outcome] = [""] * len(work)
        images, positions = [], []
        for position, (data, _) in enumerate(work):
            try:
                images.append(decode_image(data))
                positions.append(position)
            except UnreadableImage as e:
                outcomes[position] = f"not a readable image: {e}"
        if images:
            k = max(work[position][1] for position in positions)
            ranked = engine.predict(network, metadata, images, top_k=k, batch_size=len(images))
            for position, rows in zip(positions, ranked, strict=True):
                outcomes[position] = answer_rows(rows[: work[position][1]])
            with self._count_lock:
                self.forward_passes += 1
                self.images += len(images)
                self.batch_sizes.append(len(images))
        return outcomes, list(metadata.get("class_names", []))

    async def preload(self, path: Path) -> None:
        """Load a model in the forward thread (never two loads or passes at once)."""
        await asyncio.get_running_loop().run_in_executor(self.executor, self.cache.load, path)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
