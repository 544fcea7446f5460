"""The Guido & Ada demo: a shared document editor that never loses an update.

A small Django project configured in code (:mod:`.config`), its REST API on the Django REST
framework integration (:mod:`.views`), and a static web page (``web/``) that saves with
``If-Match``, polls with ``If-None-Match`` and merges in the browser after a ``412``. Run it with
``ifmatch demo`` (or ``python -m ifmatch.demo``); see :mod:`.command`.

Importing this package imports nothing from Django: the command does, inside ``run``.
"""
