"""The check-then-write stacks the checker is measured against, each set up the way its own
documentation shows, on PostgreSQL (the database URL in ``IFMATCH_PEERS_DATABASE_URL``):

- ``djangoapp``: Django's ``condition`` decorator (a plain view, the tag from a version
  column) and drf-extensions' ``APIETAGMixin`` on a ``ModelViewSet``, under gunicorn;
- ``flask_stacks``: flask-smorest (``@blp.etag``, ``check_etag``, a marshmallow schema whose
  ``id`` is ``dump_only``) and Werkzeug's conditional helpers (``add_etag``,
  ``make_conditional``, ``request.if_match``) on a PATCH-only view, under gunicorn;
- ``fastapi_stack``: fastapi-etag's ``Etag`` dependency, pydantic models with
  ``extra="forbid"``, under uvicorn.

All of them compare the tag, then write in a separate step. They share one table
(``tables.py``); each test writes a row of its own. They import nothing from ifmatch.
"""
