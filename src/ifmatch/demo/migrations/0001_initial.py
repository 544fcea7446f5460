"""Documents and their revisions."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Document",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.PositiveBigIntegerField(default=1, editable=False)),
                ("last_modified", models.DateTimeField(blank=True, editable=False, null=True)),
                ("title", models.CharField(max_length=200)),
                ("text", models.TextField(blank=True, default="")),
                (
                    "saved_by",
                    models.CharField(blank=True, default="", editable=False, max_length=80),
                ),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.CreateModel(
            name="Revision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.PositiveBigIntegerField()),
                ("author", models.CharField(blank=True, max_length=80)),
                ("title", models.CharField(max_length=200)),
                ("text", models.TextField(blank=True)),
                ("saved_at", models.DateTimeField(null=True)),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="revisions",
                        to="ifmatch_demo.document",
                    ),
                ),
            ],
            options={
                "ordering": ["-version"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("document", "version"), name="one_revision_per_version"
                    )
                ],
            },
        ),
    ]
