"""The training service: FastAPI routes over the training engine."""

from __future__ import annotations

import platform

import torch
import torchvision
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="Training service", version="1")


class Health(BaseModel):
    status: str
    device: str
    torch: str
    torchvision: str
    python: str


@app.get("/v1/health", response_model=Health)
def health() -> Health:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return Health(
        status="ok", device=device, torch=torch.__version__, torchvision=torchvision.__version__,
        python=platform.python_version(),
    )  # fmt: skip
