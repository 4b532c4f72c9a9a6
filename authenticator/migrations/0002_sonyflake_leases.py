"""The Sonyflake machine-id leases (``authenticator.core.ids.LEASE_TABLE``): one row per
leased id, claimed and renewed by raw statements in ``authenticator.core.ids`` (no model:
the ORM never reads it, and ``flush`` between tests must not take a live process's id).
Used on PostgreSQL only; harmless elsewhere."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("authenticator", "0001_tokenizer"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
                CREATE TABLE sonyflake_leases (
                    machine_id integer PRIMARY KEY CHECK (machine_id BETWEEN 0 AND 65535),
                    holder uuid NOT NULL,
                    expires_at timestamp with time zone NOT NULL
                )
            """,
            reverse_sql="DROP TABLE sonyflake_leases",
        ),
    ]
