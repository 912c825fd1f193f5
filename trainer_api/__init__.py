"""The training service (FastAPI) and, in `trainer_api.engine`, the pure-PyTorch training engine."""
