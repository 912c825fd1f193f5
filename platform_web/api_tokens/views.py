"""The API tokens page: list, create (the token is shown once, in that response), revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from platform_web.api_tokens import selectors, services
from platform_web.api_tokens.errors import TokenLimitReached
from platform_web.api_tokens.forms import TokenForm
from platform_web.api_tokens.models import ApiToken


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """The user's tokens; a POST creates one and shows it on this one page, never again.

    The new token is rendered straight into the POST's response (no redirect): keeping it
    for a redirected page would put it in the session, that is in the database.
    """
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            created, raw = services.create_token(owner=request.user, name=form.cleaned_data["name"])
        except TokenLimitReached as e:
            form.add_error(None, str(e))
        else:
            new_token = {"token": created, "raw": raw}
            form = TokenForm()
    context = {"form": form, "tokens": selectors.tokens_of(request.user), "new_token": new_token}
    response = render(request, "api_tokens/tokens.html", context)
    response["Cache-Control"] = "no-store"  # the page may hold a token: no browser or proxy keeps a copy
    return response


@login_required
@require_POST
def revoke(request, token_id: int):
    """Delete one of the user's tokens (another user's token is 404); requests carrying it fail at once."""
    try:
        token = services.revoke_token(owner=request.user, token_id=token_id)
    except ApiToken.DoesNotExist as e:
        raise Http404("No such token.") from e
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked: requests with it now get 401.")
    return redirect("api_tokens:list")
