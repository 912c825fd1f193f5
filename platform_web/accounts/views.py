from django.conf import settings
from django.contrib.auth import login
from django.core.cache import cache
from django.shortcuts import redirect, render

from platform_web.accounts.forms import SignUpForm

SIGNUP_WINDOW_SECONDS = 3600


def _signup_key(request) -> str:
    return f"accounts:signups:{request.META.get('REMOTE_ADDR', '')}"


def signup(request):
    """Create an account and sign the person in (at most SIGNUPS_PER_IP_PER_HOUR accounts per address an hour)."""
    if request.user.is_authenticated:
        return redirect("datasets:list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST":
        key, limit = _signup_key(request), settings.SIGNUPS_PER_IP_PER_HOUR
        if cache.get(key, 0) >= limit:
            form.add_error(None, f"{limit} accounts were made from your address in the last hour; try again later.")
            return render(request, "accounts/signup.html", {"form": form}, status=429)
        if form.is_valid():
            user = form.save()
            cache.add(key, 0, SIGNUP_WINDOW_SECONDS)
            cache.incr(key)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("datasets:list")
    return render(request, "accounts/signup.html", {"form": form})
