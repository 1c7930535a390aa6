"""``GET /api/openapi.json``: the HTTP API described as OpenAPI 3.1, generated from the route
table (routes.py) and the pydantic models the handlers validate request bodies with.

Every error is ``{"error": code, "detail": text}`` (docs/protocol.md §9), with more fields for
some codes; the document says so once, as the ``Error`` schema.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.routes import API, Endpoint

_PATH_PARAM = re.compile(r"{([a-z_]+)}")
_ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "a stable code"},
        "detail": {"type": "string", "description": "plain words for a person"},
    },
    "additionalProperties": True,
}


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(endpoint.path)
    ]
    params += [
        {"name": q.name, "in": "query", "required": False, "description": q.about,
         "schema": {"type": q.kind}}
        for q in endpoint.query
    ]
    error = {"description": "refused", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    op: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.handler.__module__.rsplit('.', 1)[-1]}_"
                       f"{endpoint.handler.__name__}_{endpoint.method.lower()}",
        "responses": {"200": {"description": "done", "content": {"application/json": {}}},
                      "4XX": error, "5XX": error},
    }
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        schema = endpoint.body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[endpoint.body.__name__] = schema
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{endpoint.body.__name__}"}}}}
    if endpoint.signed_in:
        op["security"] = [{"bearer": []}, {"cookie": []}]
    return op


@cache
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in API:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kindred HTTP API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "kindred_session"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
