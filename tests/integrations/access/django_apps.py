"""Django REST framework and plain Django views over ``OwnedDocument``, each keeping its access
decision in a different hook, as users write them from each framework's docs. Served as a
URLconf of its own (``ROOT_URLCONF = "integrations.access.django_apps"``).

Authentication is one header (``X-User``); without it the caller is anonymous.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required, user_passes_test
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import path
from rest_framework import permissions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import PermissionDenied as DRFPermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from djangoproject.docs.models import OwnedDocument
from ifmatch.integrations.django import conditional
from ifmatch.integrations.drf.generics import ConditionalModelViewSet
from integrations.access.cases import OWNER, USER_HEADER

META_USER = "HTTP_" + USER_HEADER.upper().replace("-", "_")


class User:
    """An authenticated caller: the owner may change documents; ``root`` is staff."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, username: str) -> None:
        self.username = username
        self.is_staff = username == "root"

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return self.username in {OWNER, "root"}

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return self.has_perms([perm], obj)


def caller(request: HttpRequest) -> User | AnonymousUser:
    name = request.META.get(META_USER)
    return User(name) if name else AnonymousUser()


class HeaderUserMiddleware:
    """``request.user`` from ``X-User`` (plain Django's decorators read it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request.user = caller(request)  # type: ignore[assignment]
        return self.get_response(request)


# -- Django REST framework ---------------------------------------------------------------------


class HeaderAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, None] | None:
        name = request.META.get(META_USER)
        return (User(name), None) if name else None

    def authenticate_header(self, request: Request) -> str:
        return USER_HEADER  # so an anonymous caller gets 401, not 403


class OwnedSerializer(serializers.ModelSerializer[OwnedDocument]):
    class Meta:
        model = OwnedDocument
        fields = ["id", "owner", "title", "text", "secret"]
        read_only_fields = ["owner"]

    def to_representation(self, instance: OwnedDocument) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not getattr(request.user, "is_staff", False):
            data.pop("secret")  # only staff see it, in any body
        return data


def is_owner(request: Request, obj: OwnedDocument) -> bool:
    return getattr(request.user, "username", None) == obj.owner


def may_create(request: Request) -> bool:
    return getattr(request.user, "username", None) == OWNER


class Base(ConditionalModelViewSet):
    queryset = OwnedDocument.objects.all()
    serializer_class = OwnedSerializer
    authentication_classes = [HeaderAuthentication]
    permission_classes: list[Any] = []
    ifmatch_include_current_representation = True

    def perform_create(self, serializer: Any) -> None:
        serializer.save(owner=self.request.user.username)


class OwnerPermission(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method != "POST" or may_create(request)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return is_owner(request, obj)


class ByPermissionClass(Base):
    permission_classes = [OwnerPermission]


class ByQueryset(Base):
    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self) -> QuerySet[OwnedDocument]:
        return OwnedDocument.objects.filter(owner=self.request.user.username)


class ByGetObject(Base):
    def get_object(self) -> OwnedDocument:
        obj: OwnedDocument = super().get_object()
        if not is_owner(self.request, obj):
            raise DRFPermissionDenied()
        return obj


class ByCheckObjectPermissions(Base):
    def check_object_permissions(self, request: Request, obj: Any) -> None:
        super().check_object_permissions(request, obj)
        if not is_owner(request, obj):
            raise DRFPermissionDenied()


class ByActions(Base):
    """The check after ``get_object``, in the action itself."""

    def checked(self) -> None:
        if not is_owner(self.request, self.get_object()):
            raise DRFPermissionDenied()

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.checked()
        return super().retrieve(request, *args, **kwargs)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.checked()
        return super().update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.checked()
        return super().destroy(request, *args, **kwargs)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not may_create(request):
            raise DRFPermissionDenied()
        return super().create(request, *args, **kwargs)


class ByPerformHooks(Base):
    """The check where the write happens: ``perform_update`` / ``_destroy`` / ``_create``."""

    def perform_update(self, serializer: Any) -> None:
        if not is_owner(self.request, serializer.instance):
            raise DRFPermissionDenied()
        super().perform_update(serializer)

    def perform_destroy(self, instance: OwnedDocument) -> None:
        if not is_owner(self.request, instance):
            raise DRFPermissionDenied()
        super().perform_destroy(instance)

    def perform_create(self, serializer: Any) -> None:
        if not may_create(self.request):
            raise DRFPermissionDenied()
        super().perform_create(serializer)


#: hook -> viewset, and which of the matrix's requests the hook decides.
DRF_HOOKS: dict[str, tuple[type[Base], frozenset[str]]] = {
    "permission-class": (ByPermissionClass, frozenset({"item", "post"})),
    "get-queryset": (ByQueryset, frozenset({"item"})),
    "get-object": (ByGetObject, frozenset({"item"})),
    "check-object-permissions": (ByCheckObjectPermissions, frozenset({"item"})),
    "actions": (ByActions, frozenset({"item", "post"})),
    "perform-hooks": (ByPerformHooks, frozenset({"write", "post"})),
}


class Creatable(Base):
    """Create-by-PUT into the caller's own documents (``get_queryset``), the owner set by
    the view's own ``perform_create``."""

    permission_classes = [permissions.IsAuthenticated]
    ifmatch_allow_put_create = True

    def get_queryset(self) -> QuerySet[OwnedDocument]:
        return OwnedDocument.objects.filter(owner=self.request.user.username)


router = SimpleRouter()
for hook, (viewset, _) in DRF_HOOKS.items():
    router.register(f"drf/{hook}", viewset, basename=f"access-{hook}")
router.register("drf/creatable", Creatable, basename="creatable")


# -- plain Django --------------------------------------------------------------------------------


def owned_json(obj: OwnedDocument) -> dict[str, Any]:
    return {"id": obj.pk, "owner": obj.owner, "title": obj.title, "text": obj.text}


def document_view(request: HttpRequest, pk: int, obj: OwnedDocument) -> HttpResponseBase:
    """The view body of every plain Django case: a write saves; DELETE deletes."""
    if request.method == "DELETE":
        obj.delete()
        return HttpResponse(status=204)
    if request.method in {"PUT", "PATCH"}:
        data = json.loads(request.body or b"{}")
        obj.title, obj.text = data.get("title", obj.title), data.get("text", obj.text)
        obj.save()
    return JsonResponse(owned_json(obj))


def checks_in_body(request: HttpRequest, pk: int, obj: OwnedDocument) -> HttpResponseBase:
    if getattr(request.user, "username", None) != obj.owner:
        raise PermissionDenied
    return document_view(request, pk, obj)


def forbids_in_body(request: HttpRequest, pk: int, obj: OwnedDocument) -> HttpResponseBase:
    if getattr(request.user, "username", None) != obj.owner:
        return HttpResponse("Forbidden", status=403)
    return document_view(request, pk, obj)


def _is_owner_user(user: Any) -> bool:
    return getattr(user, "username", None) == OWNER


conditional_docs = conditional(OwnedDocument.objects.all())
owner_only = user_passes_test(_is_owner_user)
change_permission = permission_required("docs.change_owneddocument", raise_exception=True)

#: hook -> view, and whether the refusal may be the login redirect. "above" means the access
#: decorator is applied outside ``conditional``, "below" inside it.
DJANGO_HOOKS: dict[str, tuple[Callable[..., HttpResponseBase], bool]] = {
    "login-required-above": (login_required(conditional_docs(checks_in_body)), True),
    "login-required-below": (conditional_docs(login_required(checks_in_body)), True),
    "permission-required-above": (change_permission(conditional_docs(document_view)), False),
    "permission-required-below": (conditional_docs(change_permission(document_view)), False),
    "user-passes-test-above": (owner_only(conditional_docs(document_view)), True),
    "user-passes-test-below": (conditional_docs(owner_only(document_view)), True),
    "has-permission": (
        conditional(
            OwnedDocument.objects.all(),
            has_permission=lambda request, obj: request.user.username == obj.owner,
        )(document_view),
        False,
    ),
    "has-permission-answered-early": (
        conditional(
            OwnedDocument.objects.all(),
            has_permission=lambda request, obj: request.user.username == obj.owner,
            answer_before_view=True,
        )(document_view),
        False,
    ),
    "view-raises": (conditional_docs(checks_in_body), False),
    "view-answers-403": (conditional_docs(forbids_in_body), False),
}

urlpatterns: list[Any] = [
    *router.urls,
    *(path(f"django/{hook}/<int:pk>/", view) for hook, (view, _) in DJANGO_HOOKS.items()),
    # Any string reaches the view: "abc" must be a 404, not a 500.
    path("django/any-key/<str:pk>/", conditional_docs(document_view)),
]
