"""Request validation and the OpenAPI 3.1 document, both from the same pydantic models.

Written here rather than taken from flask-openapi3/spectree because those replace Flask's
Blueprint/app classes or render their own error bodies; we need plain blueprints, our error
envelope on every failure, and WebSocket routes from flask-sock living beside the REST ones.
`@endpoint(...)` validates the JSON body and the query string, passes them to the view as
`body=` / `query=`, and records everything the document needs on the view function.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Callable

from flask import Flask, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema

from services.errors import validate_input
from web.errors import ApiError
from web.rate_limits import EXEMPT_ENDPOINTS as RATE_LIMIT_EXEMPT

_REF = "#/components/schemas/{model}"


@dataclass
class EndpointDoc:
    summary: str
    tags: list[str]
    body: Any = None
    query: type[BaseModel] | None = None
    responses: dict[int, Any] = field(default_factory=dict)
    auth: bool = True
    errors: tuple[int, ...] = ()
    raw_body: dict[str, Any] = field(default_factory=dict)


def endpoint(
    summary: str,
    *,
    tags: list[str],
    body: Any = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, Any] | None = None,
    auth: bool = True,
    errors: tuple[int, ...] = (),
    raw_body: dict[str, Any] | None = None,
) -> Callable:
    """Validate input for a view and describe it in the OpenAPI document.

    `body` may be a model or any type pydantic can validate (e.g. `list[Model]`). `raw_body`
    (content type -> type) documents a body the view reads itself, e.g. a stream. A response
    value may be `(content_type, type)` for anything but JSON.
    """
    doc = EndpointDoc(summary, tags, body, query, responses or {}, auth, errors, raw_body or {})
    body_adapter = TypeAdapter(body) if body is not None else None
    body_optional = body_adapter is not None and _accepts_none(body_adapter)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            if body_adapter is not None:
                kwargs["body"] = _parse_body(body_adapter, body_optional)
            if query is not None:
                kwargs["query"] = _parse_query(query)
            return view(*args, **kwargs)

        wrapper.openapi = doc  # type: ignore[attr-defined]
        return wrapper

    return decorator


def _accepts_none(adapter: TypeAdapter) -> bool:
    try:
        adapter.validate_python(None)
        return True
    except ValidationError:
        return False


def _parse_body(adapter: TypeAdapter, optional: bool) -> Any:
    if optional and not request.content_length and not request.headers.get("Transfer-Encoding"):
        return None
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise ApiError(400, "request body is not valid JSON", code="invalid_json") from None
    return validate_input(adapter.validate_python, data, "request body", loc_prefix="body")


def _parse_query(model: type[BaseModel]) -> BaseModel:
    return validate_input(model.model_validate, dict(request.args.items()), "query parameters", loc_prefix="query")


# ---------------------------------------------------------------- document

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "requestId": {"type": "string"},
            },
        }
    },
}

_STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad request", 401: "Unauthorized",
    404: "Not found", 409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
    422: "Validation error", 429: "Rate limited", 503: "Service unavailable",
}
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _collect_models(docs: list[EndpointDoc]) -> tuple[dict[int, Any], dict]:
    """Return a JSON schema per annotated type (by id) plus the shared component definitions."""
    types: dict[int, Any] = {}
    for d in docs:
        for t in [d.body, d.query, *d.raw_body.values(), *(_media(r)[1] for r in d.responses.values())]:
            if t is not None:
                types[id(t)] = t
    schemas: dict[int, Any] = {}
    defs: dict[str, Any] = {}
    model_types = [t for t in types.values() if isinstance(t, type) and issubclass(t, BaseModel)]
    if model_types:
        mapping, top = models_json_schema(
            [(m, "validation") for m in model_types], ref_template=_REF
        )
        defs.update(top.get("$defs", {}))
        for (m, _mode), schema in mapping.items():
            schemas[id(m)] = schema
    for key, t in types.items():
        if key not in schemas:
            schema = TypeAdapter(t).json_schema(ref_template=_REF)
            defs.update(schema.pop("$defs", {}))
            schemas[key] = schema
    return schemas, defs


def _media(response: Any) -> tuple[str, Any]:
    return response if isinstance(response, tuple) else ("application/json", response)


def body_optional_of(doc: EndpointDoc) -> bool:
    return doc.body is not None and _accepts_none(TypeAdapter(doc.body))


def _parameters(rule: Any, doc: Any, schemas: dict) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer"} if conv == "int" else {"type": "string"}}
        for conv, name in _PATH_PARAM.findall(rule.rule)
    ]
    if doc.query is not None:
        qschema = schemas[id(doc.query)]
        required = set(qschema.get("required", []))
        for name, prop in qschema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


def _operation(rule: Any, doc: Any, method: str, params: list, schemas: dict) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": doc.summary,
        "tags": doc.tags,
        "operationId": f"{rule.endpoint}_{method.lower()}".replace(".", "_"),
        "responses": {},
    }
    if params:
        op["parameters"] = params
    if doc.body is not None:
        op["requestBody"] = {
            "required": not body_optional_of(doc),
            "content": {"application/json": {"schema": schemas[id(doc.body)]}},
        }
    elif doc.raw_body:
        op["requestBody"] = {"required": True, "content": {
            media: {"schema": schemas[id(t)]} for media, t in doc.raw_body.items()}}
    for status, response in doc.responses.items():
        entry: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Response")}
        media, model = _media(response)
        if model is not None:
            entry["content"] = {media: {"schema": schemas[id(model)]}}
        op["responses"][str(status)] = entry
    if doc.auth:
        op["security"] = [{"bearerAuth": []}]
    for status in sorted(_error_statuses(rule, doc)):
        op["responses"][str(status)] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
        }
    return op


def _error_statuses(rule: Any, doc: Any) -> set[int]:
    statuses = set(doc.errors)
    if doc.body is not None or doc.raw_body:
        statuses |= {400, 413, 415, 422}
    if doc.query is not None:
        statuses.add(422)
    if doc.auth:
        statuses.add(401)
    if rule.endpoint not in RATE_LIMIT_EXEMPT:
        statuses.add(429)
    return statuses


def build_document(app: Flask, title: str, version: str) -> dict[str, Any]:
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        doc = getattr(view, "openapi", None)
        if doc is not None:
            routes.append((rule, doc))
    schemas, defs = _collect_models([d for _, d in routes])
    paths: dict[str, dict] = {}
    for rule, doc in sorted(routes, key=lambda r: r[0].rule):
        path = _PATH_PARAM.sub(r"{\2}", rule.rule)
        params = _parameters(rule, doc, schemas)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, doc, method, params, schemas)
    defs["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
