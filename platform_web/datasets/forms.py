"""The upload form."""

from django import forms


class DatasetUploadForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Defaults to the zip's file name.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. flowers", "autocomplete": "off"}),
    )
    file = forms.FileField(
        label="Zip file",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip,application/x-zip-compressed"}),
    )
