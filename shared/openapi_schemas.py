"""Bodies' schemas in the OpenAPI documents say what the server enforces.

Litestar builds a msgspec Struct's schema itself and leaves out much of what msgspec then
enforces on the request: `forbid_unknown_fields` (`additionalProperties: false`), the
constraints of `msgspec.Meta` inside containers (`lesson_weekdays` items 1-7), exclusive
bounds (`mg > 0`). msgspec's own JSON Schema is, by construction, what its decoder
checks, so each Struct's component is msgspec's schema, with references to other Structs
pointing at Litestar's components for them. Found by fuzzing the documents. A Struct's
`openapi_example` class variable becomes its example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import OpenAPIType, Reference, Schema
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

_DEFS = "#/$defs/"
EXAMPLES: dict[type[msgspec.Struct], dict[str, Any]] = {}  # for Structs defined elsewhere


def example_for(struct: type[msgspec.Struct], example: dict[str, Any]) -> None:
    """Document `example` for a Struct whose module should not know about OpenAPI."""
    EXAMPLES[struct] = example


def _structs_in(kind: Any, seen: dict[type[msgspec.Struct], None]) -> None:
    """Every Struct type reachable from a msgspec type description, in order."""
    if isinstance(kind, msgspec.inspect.StructType):
        if kind.cls in seen:
            return
        seen[kind.cls] = None
        for field in kind.fields:
            _structs_in(field.type, seen)
        return
    for attribute in ("type", "item_type", "key_type", "value_type"):
        inner = getattr(kind, attribute, None)
        if isinstance(inner, msgspec.inspect.Type):
            _structs_in(inner, seen)
    for inner in getattr(kind, "types", None) or getattr(kind, "item_types", None) or ():
        _structs_in(inner, seen)


class MsgspecStructSchemaPlugin(StructSchemaPlugin):
    """A Struct's component is msgspec's JSON Schema for it (see the module docstring)."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        struct: type[msgspec.Struct] = field_definition.type_
        reachable: dict[type[msgspec.Struct], None] = {}
        _structs_in(msgspec.inspect.type_info(struct), reachable)
        types = list(reachable)
        refs, definitions = msgspec.json.schema_components(types, ref_template=_DEFS + "{name}")
        names = {ref["$ref"].removeprefix(_DEFS): cls for ref, cls in zip(refs, types, strict=True)}
        own = definitions[refs[0]["$ref"].removeprefix(_DEFS)]

        # Registered before the properties are made, so that a Struct may refer to itself.
        schema = schema_creator.schema_registry.get_schema_for_field_definition(field_definition)
        # Reference objects, not their text: Litestar shortens their paths at the end.
        references: dict[str, Reference] = {}
        for name, cls in names.items():
            if cls is struct:
                continue
            made = schema_creator.for_field_definition(FieldDefinition.from_annotation(cls))
            if isinstance(made, Reference):
                references[name] = made

        def relink(value: Any) -> Any:
            if isinstance(value, dict):
                ref = value.get("$ref")
                if isinstance(ref, str) and ref.startswith(_DEFS):
                    name = ref.removeprefix(_DEFS)
                    if names.get(name) is struct:
                        registry = schema_creator.schema_registry
                        return registry.get_reference_for_field_definition(field_definition)
                    return references.get(name, value)
                return {key: relink(item) for key, item in value.items()}
            if isinstance(value, list):
                return [relink(item) for item in value]
            return value

        schema.title = own.get("title", struct.__name__)
        schema.description = own.get("description")
        schema.type = OpenAPIType.OBJECT
        schema.required = sorted(own.get("required", []))
        # Plain dicts are written out as they are (litestar.openapi.spec.base).
        schema.properties = relink(own.get("properties", {}))
        if own.get("additionalProperties") is False:
            schema.additional_properties = False
        # A ClassVar (not a field), or registered with example_for.
        example = getattr(struct, "openapi_example", None) or EXAMPLES.get(struct)
        if example is not None:
            schema.examples = [example]
        return schema
