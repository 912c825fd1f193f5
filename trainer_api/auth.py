"""Dependencies of the routes: settings, the trial registry, the model cache and the bearer token."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from trainer_api.predictions import ModelCache
from trainer_api.settings import TrainerSettings
from trainer_api.trials import TrialRegistry

# auto_error=False: a missing header is answered 401 by require_token, with the same message as a wrong one.
bearer = HTTPBearer(auto_error=False, description="the service's TRAINER_TOKEN")


def get_settings(request: Request) -> TrainerSettings:
    """The settings this app was created with."""
    return request.app.state.settings


def get_registry(request: Request) -> TrialRegistry:
    """The app's trial registry (one per process)."""
    return request.app.state.registry


def get_model_cache(request: Request) -> ModelCache:
    """The app's cache of loaded models."""
    return request.app.state.model_cache


SettingsDep = Annotated[TrainerSettings, Depends(get_settings)]
RegistryDep = Annotated[TrialRegistry, Depends(get_registry)]
ModelCacheDep = Annotated[ModelCache, Depends(get_model_cache)]


def require_token(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Refuse the request (401) unless it carries `Authorization: Bearer <TRAINER_TOKEN>`."""
    given = credentials.credentials.encode() if credentials is not None else b""
    if not given or not secrets.compare_digest(given, settings.token.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Missing or wrong bearer token: send 'Authorization: Bearer <TRAINER_TOKEN>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


TokenDep = Annotated[None, Depends(require_token)]
