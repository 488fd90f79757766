from __future__ import annotations

from django.urls import path

from djasgi import views

urlpatterns = [
    path("", views.index),
    path("async/", views.async_view),
    path("sync/", views.sync_view),
    path("echo/", views.echo),
    path("stream/", views.stream),
    path("wait/", views.wait),
    path("open/", views.open_gate),
    path("waiting/", views.waiting),
    path("whoami/", views.whoami),
    path("boom/", views.boom),
]
