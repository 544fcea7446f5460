from __future__ import annotations

from typing import Any

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("api/documents", views.DocumentViewSet, basename="document")
router.register("keyed/documents", views.KeyedDocumentViewSet, basename="keyed-document")

urlpatterns: list[Any] = [
    path("", include(router.urls)),
    path("generic/documents/", views.GenericDocumentList.as_view()),
    path("generic/documents/<int:pk>/", views.GenericDocumentView.as_view()),
    path("decorated/documents/<int:pk>/", views.DecoratedDocumentView.as_view()),
    path("versioned/documents/<int:pk>/", views.VersionedDocumentView.as_view()),
    path("warn/documents/<int:pk>/", views.WarnOnlyDocumentView.as_view()),
    path("optional/documents/<int:pk>/", views.OptionalDocumentView.as_view()),
    path("plain/documents/", views.plain_document_list),
    path("plain/documents/<int:pk>/", views.plain_document),
    path("plain/strict/<int:pk>/", views.plain_document_strict),
    path("plain/early/<int:pk>/", views.plain_document_early),
    path("plain/keyed/<int:pk>/", views.plain_document_keyed),
    path("naive/documents/<int:pk>/", views.NaiveDocumentView.as_view()),
    path("plain/racy/<int:pk>/", views.racy_document),
    path("plain/guarded/<int:pk>/", views.guarded_document),
    path("plain/forgetful/<int:pk>/", views.forgetful_document),
    path("plain/middleware-lost/<int:pk>/", views.middleware_lost),
    path("plain/middleware-conflict/<int:pk>/", views.middleware_conflict),
    path("raw/documents/<int:pk>/", views.UnconditionalDocumentView.as_view()),
    path("api/folders/<int:pk>/", views.FolderView.as_view()),
    path("raw/folders/<int:pk>/", views.UnconditionalFolderView.as_view()),
]

try:  # drf-extensions is only needed by the benchmark
    from . import bench_views
except ImportError:  # pragma: no cover
    pass
else:
    urlpatterns += [
        path("ext/documents/<int:pk>/", bench_views.ExtDocumentView.as_view()),
        path("ext/folders/<int:pk>/", bench_views.ExtFolderView.as_view()),
        path("condition/documents/<int:pk>/", bench_views.condition_document),
        path("condition/folders/<int:pk>/", bench_views.condition_folder),
    ]
