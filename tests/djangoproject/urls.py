from djangoproject.docs.bulk_views import urlpatterns as bulk_urlpatterns
from djangoproject.docs.jsonapi_views import urlpatterns as jsonapi_urlpatterns
from djangoproject.docs.patch_views import urlpatterns as patch_urlpatterns
from djangoproject.docs.urls import urlpatterns as docs_urlpatterns

urlpatterns = [*docs_urlpatterns, *jsonapi_urlpatterns, *bulk_urlpatterns, *patch_urlpatterns]

__all__ = ["urlpatterns"]
