"""Django's ``condition`` and drf-extensions, on the ``peer_documents`` table."""
