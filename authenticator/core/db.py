"""Small database helpers the model apps share."""

from __future__ import annotations

import functools

from django.db import connection, models


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


class _Names:
    """A model's table (``str``) and its fields' columns (attributes: a field's name or
    attname), quoted for this database."""

    def __init__(self, model: type[models.Model]) -> None:
        self._model = model

    def __str__(self) -> str:
        return connection.ops.quote_name(self._model._meta.db_table)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return connection.ops.quote_name(self._model._meta.get_field(name).column)


@functools.cache
def sql(template: str, **tables: type[models.Model]) -> str:
    """Raw SQL whose table and column names come from the models' ``_meta``, not typed
    in: ``{o}`` in ``template`` is the table of model ``o=``, ``{o.attempts}`` its column
    for field ``attempts``. Values still go in as parameters (``%s``, ``%(name)s``).

        sql("UPDATE {o} SET {o.attempts} = {o.attempts} + 1 WHERE {o.id} = %s", o=Otp)
    """
    return template.format(**{key: _Names(model) for key, model in tables.items()})
