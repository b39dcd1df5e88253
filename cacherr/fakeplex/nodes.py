"""A tiny element tree that renders as Plex XML or Plex JSON.

Plex's JSON mirrors its XML: attributes become keys, child elements become lists
keyed by tag, except that metadata items inside a container are listed under
``Metadata`` and one-of children (``User``, ``Player``, ``Session``) are objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

Attr = str | int | float | bool | None

XML_TYPE = "text/xml"
JSON_TYPE = "application/json"


@dataclass
class Node:
    """One element: ``tag``, attributes and children, plus how JSON should name it."""

    tag: str
    attrs: dict[str, Attr] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    json_key: str | None = None
    single: bool = False

    def add(self, *children: Node) -> Node:
        """Append children; returns self for chaining."""
        self.children.extend(children)
        return self


def _xml_value(value: Attr) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _to_element(node: Node) -> ET.Element:
    elem = ET.Element(node.tag, {k: _xml_value(v) for k, v in node.attrs.items() if v is not None})
    for child in node.children:
        elem.append(_to_element(child))
    return elem


def to_xml(node: Node) -> bytes:
    """Serialise with the XML declaration Plex sends."""
    body = ET.tostring(_to_element(node), encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


def _to_obj(node: Node) -> dict[str, Any]:
    obj: dict[str, Any] = {k: v for k, v in node.attrs.items() if v is not None}
    for child in node.children:
        key = child.json_key or child.tag
        if child.single:
            obj[key] = _to_obj(child)
        else:
            obj.setdefault(key, []).append(_to_obj(child))
    return obj


def to_json(node: Node) -> dict[str, Any]:
    """The JSON document: ``{"MediaContainer": {...}}``."""
    return {node.tag: _to_obj(node)}


def wants_json(request: web.Request) -> bool:
    """Plex answers JSON only when asked with ``Accept: application/json``."""
    return JSON_TYPE in request.headers.get("Accept", "")


def respond(request: web.Request, node: Node, *, status: int = 200) -> web.Response:
    """XML by default, JSON on request."""
    if wants_json(request):
        return web.Response(text=json.dumps(to_json(node)), status=status, content_type=JSON_TYPE)
    return web.Response(body=to_xml(node), status=status, content_type=XML_TYPE, charset="utf-8")


def container(**attrs: Attr) -> Node:
    """An empty ``MediaContainer``."""
    return Node("MediaContainer", dict(attrs))
