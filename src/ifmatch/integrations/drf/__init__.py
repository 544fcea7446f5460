"""Django REST framework integration: race-free conditional requests for generic views.

Import from the submodules: ``ifmatch.integrations.drf.mixins`` (``ConditionalMixin``),
``.generics`` (ready-made views), ``.decorators`` (``@conditional``), ``.serializers``
(``ETagField``), ``.exceptions``, ``.openapi`` (drf-spectacular), ``.settings``. This package
module itself imports nothing from DRF.
"""
