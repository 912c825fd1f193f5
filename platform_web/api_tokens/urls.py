from django.urls import path

from platform_web.api_tokens import views

app_name = "api_tokens"
urlpatterns = [
    path("", views.tokens, name="list"),
    path("<int:token_id>/revoke/", views.revoke, name="revoke"),
]
