"""OpenAPI post-processing: the schema says what the server enforces."""

from __future__ import annotations

from rest_framework import serializers


class ErrorOut(serializers.Serializer):
    """Every error answer: ``{"code", "detail", ...}`` (authenticator.core.errors)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False)
    retry_after = serializers.IntegerField(required=False)


def strict_request_bodies(result: dict, generator, request, public) -> dict:
    """Request bodies refuse unknown fields (StrictSerializer): ``additionalProperties: false``.

    Without it the schema allows any extra property and a client generated from it (or a
    fuzzer) would expect them to be ignored.
    """
    components = result.get("components", {}).get("schemas", {})
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                name = ref.rsplit("/", 1)[-1]
                if name in components and components[name].get("type") == "object":
                    components[name]["additionalProperties"] = False
    return result
