"""The sample document Guido and Ada open on the first run."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.utils import timezone

TITLE = "Meetup notes"
TEXT = """\
Guido and Ada both have this document open.
Every save sends If-Match with the ETag the page loaded.

Agenda
1. Two people edit the same text.
2. The first save wins and gets a new ETag.
3. The second save carries the old ETag: 412 Precondition Failed.
4. The page merges both versions and saves again on the new ETag.

Nobody's work is lost.
"""


def create_sample(apps: Any, schema_editor: Any) -> None:
    Document = apps.get_model("ifmatch_demo", "Document")
    Revision = apps.get_model("ifmatch_demo", "Revision")
    alias = schema_editor.connection.alias
    if Document.objects.using(alias).exists():
        return
    now = timezone.now().replace(microsecond=0)
    document = Document.objects.using(alias).create(
        title=TITLE, text=TEXT, version=1, last_modified=now, saved_by="ifmatch"
    )
    Revision.objects.using(alias).create(
        document=document, version=1, author="ifmatch", title=TITLE, text=TEXT, saved_at=now
    )


class Migration(migrations.Migration):
    dependencies = [("ifmatch_demo", "0001_initial")]

    operations = [migrations.RunPython(create_sample, migrations.RunPython.noop)]
