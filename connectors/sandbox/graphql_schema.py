"""GitHub's GraphQL schema for the sandbox: the official one from shared/upstream when present, else the
trimmed copy shipped in this package (generated from the official one by `python -m connectors.sandbox.graphql_schema`).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from graphql import (
    GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLNamedType, GraphQLObjectType,
    GraphQLScalarType, GraphQLSchema, GraphQLUnionType, build_schema, extend_schema, get_named_type, parse, print_ast,
)

UPSTREAM_ENV = "PILOTGATE_UPSTREAM"
TRIMMED = Path(__file__).with_name("github-schema.graphql")
INTERFACE_FIELDS = {"Node": ("id",), "Actor": ("login", "url"), "RepositoryOwner": ("id", "login", "url")}
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def upstream_graphql_dir() -> Path | None:
    """shared/upstream/github-graphql via PILOTGATE_UPSTREAM, beside the checkout, or beside the cwd."""
    candidates = [Path(os.environ[UPSTREAM_ENV])] if os.environ.get(UPSTREAM_ENV) else []
    candidates += [Path(__file__).resolve().parents[3] / "shared" / "upstream", Path.cwd().parent / "shared" / "upstream"]
    for base in candidates:
        folder = base / "github-graphql"
        if (folder / "schema.docs.graphql").is_file():
            return folder
    return None


@functools.lru_cache(maxsize=1)
def official_schema() -> GraphQLSchema | None:
    """The published schema plus extensions.graphql (about 3 s to build, so built once per process)."""
    folder = upstream_graphql_dir()
    if folder is None:
        return None
    schema = build_schema((folder / "schema.docs.graphql").read_text(encoding="utf-8"), assume_valid=True)
    extensions = folder / "extensions.graphql"
    if extensions.is_file():
        schema = extend_schema(schema, parse(extensions.read_text(encoding="utf-8")), assume_valid=True)
    return schema


@functools.lru_cache(maxsize=1)
def trimmed_schema() -> GraphQLSchema:
    return build_schema(TRIMMED.read_text(encoding="utf-8"))


def load_schema(mode: str = "auto") -> tuple[GraphQLSchema, str]:
    """(schema, "official" | "trimmed"); `mode` auto prefers the official schema when it is available."""
    if mode not in ("auto", "official", "trimmed"):
        raise ValueError(f"schema mode must be auto, official or trimmed, not {mode!r}")
    if mode != "trimmed":
        official = official_schema()
        if official is not None:
            return official, "official"
        if mode == "official":
            raise FileNotFoundError(f"GitHub's GraphQL schema not found: set {UPSTREAM_ENV} to shared/upstream")
    return trimmed_schema(), "trimmed"


def trim(official: GraphQLSchema, served: dict[str, tuple[str, ...]]) -> str:
    """SDL of the part of `official` reachable through the served fields, in the official order."""
    wanted = {**INTERFACE_FIELDS, **served}
    keep: dict[str, GraphQLNamedType] = {}
    pending = ["Query", "Mutation"]
    while pending:
        name = pending.pop()
        if name in keep or name in BUILT_IN_SCALARS:
            continue
        named = official.get_type(name)
        if named is None:
            raise KeyError(f"type {name} is not in the official schema")
        keep[name] = named
        pending.extend(_references(official, named, wanted))
    return "\n\n".join(_print(keep[n], keep, wanted) for n in sorted(keep)) + "\n"


def _references(schema: GraphQLSchema, named: GraphQLNamedType, wanted: dict) -> list[str]:
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
        refs = []
        for field_name in _fields_of(named, wanted):
            field = named.fields[field_name]
            refs.append(get_named_type(field.type).name)
            refs.extend(get_named_type(arg.type).name for arg in field.args.values())
        if isinstance(named, GraphQLInterfaceType):
            refs.extend(t.name for t in schema.get_possible_types(named) if t.name in wanted)
        return refs
    if isinstance(named, GraphQLUnionType):
        return [t.name for t in named.types if t.name in wanted]
    if isinstance(named, GraphQLInputObjectType):
        return [get_named_type(f.type).name for f in named.fields.values()]
    return []


def _fields_of(named: GraphQLObjectType | GraphQLInterfaceType, wanted: dict) -> tuple[str, ...]:
    fields = wanted.get(named.name)
    if fields is None:
        raise KeyError(f"type {named.name} is reachable but the sandbox serves none of its fields")
    unknown = [f for f in fields if f not in named.fields]
    if unknown:
        raise KeyError(f"{named.name} has no field(s) {', '.join(unknown)} in the official schema")
    return fields


def _print(named: GraphQLNamedType, keep: dict, wanted: dict) -> str:
    if isinstance(named, GraphQLScalarType):
        return f"scalar {named.name}"
    if isinstance(named, GraphQLEnumType):
        return f"enum {named.name} {{\n" + "".join(f"  {v}\n" for v in named.values) + "}"
    if isinstance(named, GraphQLUnionType):
        return f"union {named.name} = " + " | ".join(t.name for t in named.types if t.name in keep)
    if isinstance(named, GraphQLInputObjectType):
        body = "".join(f"  {_input_value(name, value)}\n" for name, value in named.fields.items())
        return f"input {named.name} {{\n{body}}}"
    kind = "interface" if isinstance(named, GraphQLInterfaceType) else "type"
    fields = list(_fields_of(named, wanted))
    # An interface is declared only where its fields are served (GitHub's Query implements Node, we don't).
    interfaces = [i.name for i in named.interfaces if i.name in keep
                  and set(INTERFACE_FIELDS.get(i.name, ())) <= set(fields)]
    head = f"{kind} {named.name}" + (" implements " + " & ".join(interfaces) if interfaces else "")
    body = "".join(f"  {_field(name, named.fields[name])}\n" for name in fields)
    return f"{head} {{\n{body}}}"


def _field(name: str, field) -> str:
    args = ", ".join(_input_value(arg_name, arg) for arg_name, arg in field.args.items())
    return f"{name}{'(' + args + ')' if args else ''}: {field.type}"


def _input_value(name: str, value) -> str:
    node = value.ast_node
    default = f" = {print_ast(node.default_value)}" if node is not None and node.default_value else ""
    return f"{name}: {value.type}{default}"


def generate() -> str:
    from connectors.sandbox.graphql_root import served_fields

    official = official_schema()
    if official is None:
        raise FileNotFoundError(f"GitHub's GraphQL schema not found: set {UPSTREAM_ENV} to shared/upstream")
    header = ("# Generated by `python -m connectors.sandbox.graphql_schema` from GitHub's published GraphQL schema\n"
              "# (github/docs schema.docs.graphql + extensions.graphql): only what the sandbox serves. Do not edit.\n\n")
    return header + trim(official, served_fields())


if __name__ == "__main__":
    TRIMMED.write_text(generate(), encoding="utf-8")
    print(f"wrote {TRIMMED}", file=sys.stderr)
