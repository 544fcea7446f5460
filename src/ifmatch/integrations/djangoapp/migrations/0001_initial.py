from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    operations = [
        migrations.CreateModel(
            name="IdempotencyRecord",
            fields=[
                ("id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("fingerprint", models.CharField(max_length=64)),
                ("attempt", models.CharField(max_length=32)),
                ("created", models.DateTimeField()),
                ("expires", models.DateTimeField(db_index=True)),
                ("done", models.BooleanField(default=False)),
                ("status", models.SmallIntegerField(null=True)),
                ("version", models.BigIntegerField(null=True)),
                ("location", models.TextField(null=True)),
            ],
            options={"db_table": "ifmatch_idempotency"},
        ),
    ]
