"""The configuration reference (docs/configuration.md), generated from the models.

`python -m cacherr.config.reference docs/configuration.md` rewrites the block between the
markers; a test fails when that file and the models disagree or a field lacks a description.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from cacherr.config.models import Settings

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo, owner: BaseModel | None = None, name: str = "") -> str:
    if field.is_required():
        return "(required)"
    # A section's own default (e.g. users.shared) overrides its fields' defaults.
    if owner is not None:
        value = getattr(owner, name)
    else:
        value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, SecretStr):
        value = "(secret)"
    return f"`{json.dumps(value)}`"


def rows(
    model: type[BaseModel] = Settings, prefix: str = "", owner: BaseModel | None = None
) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every leaf field, nested sections flattened."""
    out: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _model_of(field.annotation)
        if nested is None:
            args = typing.get_args(field.annotation)
            item_model = _model_of(args[0]) if typing.get_origin(field.annotation) is list else None
            value_model = (
                _model_of(args[1]) if typing.get_origin(field.annotation) is dict else None
            )
            default = _default(field, owner, name)
            out.append((key, _type_name(field.annotation), default, field.description or ""))
            if item_model is not None:
                out.extend(rows(item_model, f"{key}[]."))
            if value_model is not None:
                out.extend(rows(value_model, f"{key}.<name>."))
        else:
            section = getattr(owner, name) if owner is not None else None
            if section is None and not field.is_required():
                section = field.get_default(call_default_factory=True)
            out.extend(rows(nested, f"{key}.", section if isinstance(section, BaseModel) else None))
    return out


def undocumented() -> list[str]:
    """Keys without a description."""
    return [key for key, _t, _d, description in rows() if not description.strip()]


def render() -> str:
    """The Markdown block, markers included."""
    lines = [
        START,
        "## Configuration reference",
        "",
        "Every key of `cacherr.json`; any of them can also be set as an environment variable "
        "`CACHERR_<SECTION>__<KEY>` (e.g. `CACHERR_CACHE__NEXT_EPISODES=3`).",
        "",
        "| key | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for key, type_name, default, description in rows():
        text = description.replace("|", "\\|")
        lines.append(f"| `{key}` | {type_name} | {default} | {text} |")
    lines.append(END)
    return "\n".join(lines)


def splice(document: str) -> str:
    """`document` with its reference block replaced by a fresh one."""
    head, _, rest = document.partition(START)
    _, _, tail = rest.partition(END)
    return head + render() + tail


def main(argv: list[str]) -> int:
    """Rewrite the reference block of the given file (docs/configuration.md)."""
    path = Path(argv[0] if argv else "docs/configuration.md")
    path.write_text(splice(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
