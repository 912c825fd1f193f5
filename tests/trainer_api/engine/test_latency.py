"""The batch-1 latency a trial records is what a user measures with the saved `.pth`, image by image."""

from __future__ import annotations

import statistics
import time

import torch

from tests.trained_models.builders import train_model
from trainer_api.engine.artefact import load_model


def median_single_image_ms(model: torch.nn.Module, input_size: int, rounds: int = 3, repeats: int = 50) -> float:
    """What a user's script does: warm up, then time one image at a time and take the median; of three such
    rounds the quietest (the machine's other work lands in one round or another)."""
    image = torch.rand(1, 3, input_size, input_size)
    medians = []
    with torch.inference_mode():
        for _ in range(10):
            model(image)
        for _ in range(rounds):
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                model(image)
                times.append(time.perf_counter() - started)
            medians.append(statistics.median(times) * 1000.0)
    return min(medians)


def test_recorded_batch1_latency_is_within_1_5x_of_single_image_predictions(tmp_path):
    trained = train_model(tmp_path, architecture="small_resnet", input_size=64, epochs=1)
    recorded = trained.result.latency_ms_batch1
    assert recorded and recorded > 0
    torch.set_num_threads(1)  # as the trial measured it (train_model runs the engine on one thread)
    model, metadata = load_model(trained.result.model_path)
    measured = median_single_image_ms(model, metadata["input_size"])
    for _ in range(2):  # a busy moment on a shared machine slows one measurement; a real gap persists
        if recorded / measured >= 1 / 1.5:
            break
        measured = min(measured, median_single_image_ms(model, metadata["input_size"]))
    ratio = recorded / measured
    assert 1 / 1.5 <= ratio <= 1.5, f"recorded {recorded:.3f} ms, measured {measured:.3f} ms per image ({ratio:.2f}x)"
