from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("drf-extensions/documents", views.DocumentViewSet)


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns: list[Any] = [
    path("health", health),
    path("condition/documents/<int:pk>", views.condition_document),
    path("", include(router.urls)),
]
