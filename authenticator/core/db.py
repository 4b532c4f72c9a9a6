"""Small database helpers the model apps share."""

from __future__ import annotations

from django.db import models


class KeyField(models.CharField):
    """A CharField used as an exact-match key (ids, hashes).

    On PostgreSQL, Django gives every indexed ``varchar`` a second ``varchar_pattern_ops``
    index for LIKE queries. Nobody runs LIKE on a token hash, and each extra index is one
    more write on every sign-in, so the column is declared under varchar's other name,
    which Django does not pair with that index. Same type, same behaviour.
    """

    def db_type(self, connection):  # type: ignore[override]
        if connection.vendor == "postgresql":
            return f"character varying({self.max_length})"
        return super().db_type(connection)
