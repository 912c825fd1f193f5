from django import forms


class TokenForm(forms.Form):
    """The name of a new token: where it will be used, so it can be told apart and revoked later."""

    name = forms.CharField(
        max_length=80,
        help_text="Where the token will be used, for example “stock-camera script” or “web shop”.",
        widget=forms.TextInput(attrs={"placeholder": "stock-camera script", "autocomplete": "off"}),
    )
