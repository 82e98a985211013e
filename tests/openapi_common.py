"""What the Jira and GitHub OpenAPI checks share: one description loaded once, its path templates, a validator."""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.upstream import upstream_json


def _nullable(check):
    """OpenAPI 3.0's `nullable: true` admits null whatever the other keywords say; JSON Schema has no such word."""

    def checked(validator, value, instance, schema):
        if instance is None and schema.get("nullable"):
            return
        yield from check(validator, value, instance, schema)

    return checked


OpenAPI30Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    {k: _nullable(jsonschema.Draft7Validator.VALIDATORS[k]) for k in ("type", "enum", "oneOf", "anyOf", "allOf")},
)


class Description:
    """An OpenAPI description in shared/upstream, read on first use (the files are megabytes)."""

    def __init__(self, relative: str, base_uri: str) -> None:
        self.relative = relative
        self.base_uri = base_uri

    @property
    def doc(self) -> dict:
        return upstream_json(self.relative)

    @functools.cached_property
    def registry(self) -> Registry:
        return Registry().with_resource(self.base_uri, Resource.from_contents(self.doc, default_specification=DRAFT7))

    @functools.cached_property
    def templates(self) -> list[tuple[re.Pattern, str]]:
        """Path templates as regexes, literal ones first so `/issue/bulk` beats `/issue/{issueIdOrKey}`."""
        found = []
        for template in self.doc["paths"]:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            found.append((re.compile(f"^{pattern}$"), template))
        return sorted(found, key=lambda item: item[1].count("{"))

    def validator(self, ref: str) -> jsonschema.Validator:
        """A validator for `#/json/pointer` inside this description."""
        return OpenAPI30Validator({"$ref": f"{self.base_uri}{ref}"}, registry=self.registry)

    def errors(self, ref: str, instance: Any) -> list[jsonschema.ValidationError]:
        return sorted(self.validator(ref).iter_errors(instance), key=lambda e: list(e.absolute_path))
