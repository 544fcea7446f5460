from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from . import views


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns: list[Any] = [
    path("health", health),
    path("drf/bare/docs/<int:pk>", views.BareView.as_view()),
    path("drf/ifmatch/docs/<int:pk>", views.IfMatchView.as_view()),
    path("drf/keyed/docs/<int:pk>", views.KeyedView.as_view()),
    path("drf/current/docs/<int:pk>", views.CurrentView.as_view()),
    path("drf/drf-extensions/docs/<int:pk>", views.ExtensionsView.as_view()),
    path("drf/paris-decorator/docs/<int:pk>", views.ParisView.as_view()),
    path("django/bare/docs/<int:pk>", views.bare_document),
    path("django/ifmatch/docs/<int:pk>", views.ifmatch_document),
    path("django/condition/docs/<int:pk>", views.condition_document),
    path("django/conditional-get/docs/<int:pk>", views.middleware_document),
]
