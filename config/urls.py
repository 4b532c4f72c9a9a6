from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("authenticator.urls")),
]

handler400 = "authenticator.api.errors.json_400"
handler403 = "authenticator.api.errors.json_403"
handler404 = "authenticator.api.errors.json_404"
handler500 = "authenticator.api.errors.json_500"
