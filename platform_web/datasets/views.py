from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from platform_web.datasets.models import Dataset


@login_required
def dataset_list(request):
    datasets = Dataset.objects.filter(owner=request.user)
    return render(request, "datasets/list.html", {"datasets": datasets})
