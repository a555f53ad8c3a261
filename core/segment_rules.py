"""The shape of a segment's rule tree, validated by pydantic; errors name the rule path (`rules.all[2].op`).

What a field means and which values it accepts depends on the entity: that is checked when the tree is
compiled to SQL (core/repositories/segments.py), with the same path notation.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError

from core.errors import InvalidInput

Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "is_null", "is_not_null",
             "has", "has_any"]
OPS: tuple[str, ...] = Op.__args__  # type: ignore[attr-defined]

MAX_CONDITIONS = 200
MAX_DEPTH = 12
_NODE_TAGS = ("all", "any", "not", "condition")


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str = Field(min_length=1, max_length=200)
    op: Op
    value: Any = None


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Rule]


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    any: list[Rule]


class NotOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    not_: Rule = Field(alias="not")


def _node_tag(value: Any) -> str | None:
    """Pick the node type from its key, so errors point inside the intended node, not at all four."""
    if isinstance(value, AllOf | AnyOf | NotOf | Condition):
        return {AllOf: "all", AnyOf: "any", NotOf: "not", Condition: "condition"}[type(value)]
    if not isinstance(value, dict):
        return None
    return next((k for k in ("all", "any", "not") if k in value), "condition")


Rule = Annotated[
    Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")] | Annotated[NotOf, Tag("not")]
    | Annotated[Condition, Tag("condition")],
    Discriminator(_node_tag, custom_error_type="rule_node",
                  custom_error_message="expected an object with 'all', 'any', 'not' or field/op/value"),
]

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()


@cache
def _adapter() -> TypeAdapter[Any]:
    return TypeAdapter(Rule)


def rule_path(loc: tuple[int | str, ...], root: str = "rules") -> str:
    """`('all', 'all', 2, 'condition', 'op')` -> `rules.all[2].op`: drops the union tags pydantic inserts."""
    out, expect_tag = root, True
    for part in loc:
        if expect_tag and part in _NODE_TAGS:
            expect_tag = False
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            expect_tag = True
        else:
            out += f".{part}"
            expect_tag = part == "not"
    return out


def _size(node: Any, depth: int = 1) -> tuple[int, int]:
    """(conditions, depth) of a parsed tree."""
    if isinstance(node, Condition):
        return 1, depth
    children = node.all if isinstance(node, AllOf) else node.any if isinstance(node, AnyOf) else [node.not_]
    sizes = [_size(c, depth + 1) for c in children]
    return sum(s for s, _ in sizes), max((d for _, d in sizes), default=depth)


def parse_rules(raw: Any) -> AllOf | AnyOf | NotOf | Condition:
    """Validate the tree's shape; the first error becomes an InvalidInput naming its path."""
    try:
        node = _adapter().validate_python(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise InvalidInput(rule_path(tuple(first["loc"])), first["msg"]) from None
    conditions, depth = _size(node)
    if conditions > MAX_CONDITIONS:
        raise InvalidInput("rules", f"{conditions} conditions; at most {MAX_CONDITIONS} are allowed")
    if depth > MAX_DEPTH:
        raise InvalidInput("rules", f"nested {depth} levels deep; at most {MAX_DEPTH} are allowed")
    return node


def dump_rules(node: AllOf | AnyOf | NotOf | Condition) -> dict[str, Any]:
    """The canonical JSON stored in `segments.rules` (aliases, so `not` round-trips)."""
    return node.model_dump(by_alias=True, mode="json")
