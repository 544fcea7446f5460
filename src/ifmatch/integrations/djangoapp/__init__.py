"""The Django app that keeps ifmatch's idempotency records: add
``"ifmatch.integrations.djangoapp"`` to ``INSTALLED_APPS`` and run ``migrate`` to use
``Idempotency-Key`` with the Django and DRF integrations or ``DjangoStore``."""
