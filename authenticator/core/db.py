"""Small database helpers the model apps share."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


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


# --- the sign-in path's reads: SQL written once --------------------------------------------
# Every sign-in reads its user twice (the code request, the verify) and checks once whether
# the asking address is a known one. Building and compiling the ORM's query is most of such
# a read's cost; the same SELECT written once (``sql``) costs a third of it when Django's
# own ``Manager.raw()`` loads the row (its converters, ``Model.from_db``), and less still
# for a yes/no a cursor answers. CPU per call, in-process against PostgreSQL on the 2-core
# build machine (scratch measurement, 500 calls, 2026-12-01):
#     User.objects.filter(phone_number=p).first()   0.68 ms     .get()      0.54 ms
#     User.objects.raw(<the same SELECT>)           0.25 ms
#     LoginState.objects.filter(…).exists()         0.50 ms     a cursor    0.10 ms
# What it is worth in `make bench`: docs/security/proofs.md (the benchmark's section).
# Only these reads take the shortcut; everything else uses the ORM.
def first(model: type[M], where: str, params: Sequence[Any]) -> M | None:
    """The first row of ``model`` matching ``where`` — an ``sql`` template over ``{m}``
    (``"{m.phone_number} = %s"``), a constant written by the caller; values go in
    ``params`` — loaded by ``Manager.raw()``, or None."""
    query = sql(f"SELECT * FROM {{m}} WHERE {where} LIMIT 1", m=model)  # nosec B608 - names from _meta, values as parameters
    return next(iter(model._default_manager.raw(query, params)), None)


def exists(model: type[models.Model], where: str, params: Sequence[Any]) -> bool:
    """Whether a row of ``model`` matches ``where`` (as in ``first``)."""
    with connection.cursor() as cursor:
        cursor.execute(sql(f"SELECT 1 FROM {{m}} WHERE {where} LIMIT 1", m=model), params)  # nosec B608 - as above
        return cursor.fetchone() is not None
