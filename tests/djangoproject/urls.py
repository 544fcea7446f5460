from djangoproject.docs.urls import urlpatterns

__all__ = ["urlpatterns"]
