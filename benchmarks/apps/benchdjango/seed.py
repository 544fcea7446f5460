"""Create the tables and the documents: ``python -m benchdjango.seed`` (database URL in
``IFMATCH_BENCH_DATABASE_URL``)."""

from __future__ import annotations

import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchdjango.settings")
    django.setup()
    import shapes
    from django.db import connection

    from ifmatch.stores._django_ledger import ledger_model

    from .models import Document, Item

    with connection.schema_editor() as editor:
        editor.create_model(Document)
        editor.create_model(Item)
        editor.create_model(ledger_model())
    for row in shapes.documents():
        Document(**row).save(force_insert=True)
    for shape in shapes.RESOURCES:
        Item.objects.bulk_create(
            Item(document_id=shape.doc_id, **item) for item in shapes.items_of(shape)
        )


if __name__ == "__main__":
    main()
