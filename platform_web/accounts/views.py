from django.contrib.auth import login
from django.shortcuts import redirect, render

from platform_web.accounts.forms import SignUpForm


def signup(request):
    """Create an account and sign the person in."""
    if request.user.is_authenticated:
        return redirect("datasets:list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("datasets:list")
    return render(request, "accounts/signup.html", {"form": form})
