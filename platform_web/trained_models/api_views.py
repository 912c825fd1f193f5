"""The prediction API's view: authenticated by an API token only (never a session), JSON in every answer."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from platform_web.api_tokens.errors import InvalidToken, TooManyRequests
from platform_web.api_tokens.services import authenticate_request
from platform_web.trained_models.errors import ModelUnavailable, NotImages, TrainerDown, TryItError
from platform_web.trained_models.prediction_api import FIELD, predict_for_api

TRAINER_RETRY_SECONDS = 30


def _error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


# CSRF protects requests that a browser authenticates by itself with its cookies. This view
# reads no cookie: only the Authorization header, which another site cannot make a browser send.
@csrf_exempt
@require_POST
def predict(request, study_id, number: int):
    """POST images (field `image`, repeated; optional `top_k`, default 3) with `Authorization: Bearer <token>`.

    200 `{"results": [{"filename", "predictions": [{"class", "probability"}]}], ...}`; 401 wrong or
    revoked token; 429 over API_REQUESTS_PER_MINUTE (Retry-After); 404 not the token owner's model or
    no model; 400 a file that is not an image (named) or a bad request; 503 inference service down.
    """
    try:
        token = authenticate_request(request.headers.get("Authorization", ""))
    except InvalidToken as e:
        response = _error(str(e), 401)
        response["WWW-Authenticate"] = 'Bearer realm="tune"'
        return response
    except TooManyRequests as e:
        response = _error(str(e), 429, retry_after=e.retry_after)
        response["Retry-After"] = str(e.retry_after)
        return response
    try:
        answer = predict_for_api(owner=token.owner, study_id=study_id, number=number,
                                 uploads=request.FILES.getlist(FIELD), top_k=request.POST.get("top_k"))  # fmt: skip
    except ModelUnavailable as e:
        return _error(str(e), 404)
    except NotImages as e:
        return _error(str(e), 400, files=e.results)
    except TrainerDown as e:
        response = _error(str(e), 503)
        response["Retry-After"] = str(TRAINER_RETRY_SECONDS)
        return response
    except TryItError as e:
        return _error(str(e), 400)
    return JsonResponse(answer)
