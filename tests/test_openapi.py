"""The OpenAPI document is generated from the route table and the handlers' own models, and
matches what the app serves: every /api route and method, every body model a handler
validates with, every query parameter it reads."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from chat_server.api.openapi import document
from chat_server.api.routes import API, Endpoint
from chat_server.app import create_app
from chat_server.config import Settings
from support.cluster import Deployment
from support.http import TLS

_BODY = re.compile(r"parse_body\(request, (\w+)\)")
# A query parameter is read by name: directly, as an integer, or as a time (api/sessions.py).
_QUERY = re.compile(r'query_params\.get\("(\w+)"|(?:int_param|_time)\(request, "(\w+)"')
_CALL = re.compile(r"\b(_\w+)\(")


def _app_api_routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Settings.from_env({}, data_dir=tmp_path))
    found = set()
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/") and route.methods:
            found |= {(route.path, m) for m in route.methods if m != "HEAD"}
    return found


def test_the_document_lists_exactly_the_apps_api_routes(tmp_path: Path) -> None:
    doc = document()
    listed = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = _app_api_routes(tmp_path) - {("/api/openapi.json", "GET")}
    assert listed == served
    assert len(served) == len(API)


def _source(endpoint: Endpoint) -> str:
    """The handler's source, with that of the module's private helpers it calls (one level)."""
    module = sys.modules[endpoint.handler.__module__]
    text = inspect.getsource(endpoint.handler)
    for name in set(_CALL.findall(text)):
        helper = getattr(module, name, None)
        if inspect.isfunction(helper):
            text += inspect.getsource(helper)
    return text


@pytest.mark.parametrize("endpoint", API, ids=lambda e: f"{e.method} {e.path}")
def test_bodies_and_query_parameters_are_the_handlers_own(endpoint: Endpoint) -> None:
    source = _source(endpoint)
    bodies = _BODY.findall(source)
    assert bodies == ([endpoint.body.__name__] if endpoint.body is not None else [])
    read = {a or b for a, b in _QUERY.findall(source)}
    assert read == {q.name for q in endpoint.query}


def test_every_reference_resolves_and_bodies_carry_their_limits() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    register = schemas["RegisterIn"]
    assert register["additionalProperties"] is False
    assert register["properties"]["password"]["minLength"] == 10
    op = doc["paths"]["/api/rooms/{slug}/messages"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"slug", "before", "limit"}


async def test_the_server_serves_it(embedded: Deployment) -> None:
    async with httpx.AsyncClient(verify=TLS, base_url=embedded.gateways[0].http_url, timeout=30) as http:
        r = await http.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.json() == document()
