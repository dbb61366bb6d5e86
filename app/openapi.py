"""The OpenAPI document: FastAPI's, finished so that generated clients and linters take it as is.

FastAPI describes the routes, their models and parameters. What it cannot see is added here by
rules over the whole document: problem+json errors, the role each operation needs, the
conditional-request headers (If-Match where an operation answers 412, If-None-Match where it
answers 304), the response headers clients read, one media type per request body, open enums
in responses, the rules of request bodies that their models check in code (a by-ref PUT names its
owner, a merge patch cannot null a required field, an `external_ref` needs an owner), and links
from each 201 to the operations on the record created. tests/clients/ proves the result: clients
generated from it type-check and work; tests/api/test_fuzz.py, that a request fitting it is taken.
"""

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.access.keys import BEARER, BEARER_SCHEME
from app.api import required_roles
from app.errors import PROBLEM_MEDIA_TYPE, problems
from app.kinds import KINDS

DESCRIPTION = """
The work plan of the NGO Group for the Convention on the Rights of the Child's subgroup against the
sexual exploitation of children: its objectives, activities and partners, and the State party
reports to the Committee on the Rights of the Child that its Focal Point monitors.

**Conventions.** Lists answer `{"items": [...], "next_cursor": "..."}`; follow `next_cursor` (or the
`Link: rel="next"` header) until it is absent. Filters are query parameters named after the field;
repeating one means OR, `_from`/`_to` bound dates, `sort=-updated_at,code` orders. Every record has
`id`, `version`, `created_at` and `updated_at`, and a strong `ETag`: send it back in `If-Match` to
change only what you have seen, or in `If-None-Match` to skip an unchanged download. PATCH takes a
JSON Merge Patch (`application/merge-patch+json`; `application/json` is taken too). Every error is
`application/problem+json` with a stable `code`.

**Enums are open.** A vocabulary can gain values without a new version of the API. In requests the
service takes only the values listed (422 otherwise). In responses, a field of an enum type may
carry a value this document does not list yet: its schema there is `anyOf` the enum and a plain
string, and every enum is marked `x-extensible-enum`. A client keeps an unknown value as it came
(to show, store or send back), treats it as none of the values it knows, and never fails on it;
`GET /v1/vocabularies` lists every value the service knows today, with a label. In the change feed,
name the `types` your client handles: the feed sends no others.
"""

TAGS = [
    *({"name": kind.title, "description": kind.description} for kind in KINDS),
    {"name": "Reporting calendar", "description": "The reports each State owes, when, and which are overdue."},
    {"name": "IATI", "description": "A work plan published as an IATI 2.03 activity file."},
    {"name": "Sync", "description": "The change feed partner systems mirror the service with."},
    {"name": "Vocabularies", "description": "Controlled vocabularies, treaty instruments and articles."},
    {
        "name": "Webhooks",
        "description": (
            "Push: the service POSTs each change a subscription asks for to its URL, signed with its secret "
            "(Standard Webhooks). For an admin's key, or a partner's key for its own subscriptions."
        ),
    },
    {"name": "Access", "description": "API keys and the audit log (admin keys only)."},
    {"name": "Service", "description": "Liveness and readiness."},
]

MERGE_PATCH = "application/merge-patch+json"
# A partner of the seeded work plan (ECPAT International), for the examples of by-ref bodies.
EXAMPLE_OWNER = "ccff0b3f-1f71-5810-ac3d-462dd1e95f06"
RATE_LIMIT_HEADERS = ("RateLimit", "RateLimit-Policy", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _integer(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


HEADERS: dict[str, dict[str, Any]] = {
    "ETag": _text("The strong entity tag of this representation: send it in If-Match or If-None-Match."),
    "Location": _text("The path of the record created."),
    "Link": _text('`<url>; rel="next"`: the next page, while there is one.'),
    "Retry-After": _integer("Seconds to wait before trying again."),
    "RateLimit": _text("Where the caller stands against its limit (draft-ietf-httpapi-ratelimit-headers)."),
    "RateLimit-Policy": _text("The limit applied to the caller (draft-ietf-httpapi-ratelimit-headers)."),
    "RateLimit-Limit": _integer("Requests allowed in the window (an earlier draft's field)."),
    "RateLimit-Remaining": _integer("Requests left in the window (an earlier draft's field)."),
    "RateLimit-Reset": _integer("Seconds until the window frees requests (an earlier draft's field)."),
    "X-Request-ID": _text("The request's id in the service's logs: the caller's own, if well formed."),
    "Idempotent-Replayed": {
        "description": "`true`: this is the stored response to an earlier request with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag you read: the change happens only while it is current, else 412.",
    "schema": {"type": "string"},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The ETag you hold: 304 without a body while it is current.",
    "schema": {"type": "string"},
}
CREATE_ONLY = {
    **IF_NONE_MATCH,
    "description": "`*`: only create; 412 when the reference already names a record.",
}
# What a response may carry in a field of an enum type besides the listed values (see DESCRIPTION).
UNKNOWN_VALUE = {"type": "string", "description": "A value added after this document: keep it as it came."}
OPEN_ENUM = "Open: values may be added. Requests take only these; a response may carry one not listed yet."

_ROLE_TEXT = {
    "anonymous": (
        "No key needed (unless the service turns anonymous reads off). Private fields: for an editor's or an "
        "admin's key, and a partner's key on its own partner's records."
    ),
    "partner": "A key with the partner role (its partner's own records only) or above.",
    "editor": "A key with the editor role or above.",
    "admin": "A key with the admin role.",
}


def operation_id(route: APIRoute) -> str:
    """The route function's own name (`list_activities`), which generated clients name their
    functions after: FastAPI's default appends the path and method."""
    return route.name


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document at /openapi.json, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
                license_info=app.license_info,
            )
            app.openapi_schema = finish_openapi(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def required_role(path: str, method: str) -> str:
    """The least role an operation needs, as its router's `Access` (app/api.py) declares it."""
    role = required_roles()[path, method.lower()]  # an operation no router declares: a KeyError
    return "anonymous" if role is None else str(role)


def finish_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    for path, method, operation in _operations(schema):
        _declare_problems(operation)
        if path.startswith("/v1/"):
            _declare_access(path, method, operation)
        else:
            operation["security"] = []  # /healthz and /readyz never need a key
        _declare_conditions(method, operation)
        _declare_response_headers(path, method, operation, components["schemas"])
        body = operation.get("requestBody", {}).get("content", {})
        if method == "patch" and "application/json" in body:
            # One media type per body: a generator given two writes broken code (see tests/clients/).
            body[MERGE_PATCH] = body.pop("application/json")
        if method == "patch":
            _no_null_for_required(body, components["schemas"])
        if method == "put" and "/by-ref/" in path:
            _by_ref_body(body, components["schemas"])
    _ref_needs_owner(schema)
    _link_created_records(schema)
    components["securitySchemes"] = {BEARER: BEARER_SCHEME}
    referred = set(_refs(schema["paths"]))
    components["headers"] = {name: copy.deepcopy(header) for name, header in HEADERS.items() if name in referred}
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    _open_enums(schema)
    return schema


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _declare_problems(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.setdefault("500", {"description": "The server failed; nothing was changed."})
    # What `workplan serve` answers before any route (app/server.py, app/limits.py).
    responses.setdefault(
        "408", {"description": "The request's headers or body came too slowly; the connection closes."}
    )
    responses.setdefault("431", {"description": "The request line and headers are larger than the service takes."})
    responses.setdefault("503", {"description": problems(503)[503]["description"]})
    for status, response in responses.items():
        if int(status) >= 400:
            response["content"] = _problem_content()
            if status == "422":
                response["description"] = "Validation failed; `errors` points at each faulty value."


def _declare_access(path: str, method: str, operation: dict[str, Any]) -> None:
    role = required_role(path, method)
    operation["x-required-role"] = role
    operation["description"] = f"{operation.get('description', '').rstrip()}\n\nAccess: {_ROLE_TEXT[role]}"
    # Anonymous: no key needed (`{}`), or one.
    operation["security"] = [{}, {BEARER: []}] if role == "anonymous" else [{BEARER: []}]
    responses = operation["responses"]
    for status in ("401", "403"):
        responses.setdefault(status, {"description": problems(int(status))[int(status)]["description"]})
        responses[status]["content"] = _problem_content()
    limits = {"429": "Too many requests for this key or address: wait `Retry-After` seconds."}
    if "requestBody" in operation:
        limits["413"] = "The body is larger than the service takes (1 MiB by default)."
    for status, description in limits.items():
        responses.setdefault(status, {"description": description, "content": _problem_content()})


def _declare_conditions(method: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    parameters = operation.setdefault("parameters", [])
    if "412" in responses:
        parameters.append({**IF_MATCH})
    if "304" in responses:
        parameters.append({**IF_NONE_MATCH})
    elif method == "put":
        parameters.append({**CREATE_ONLY})


def _body_schema(body: dict[str, Any], schemas: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The one media type's schema and its component's name."""
    for content in body.values():
        name = _ref_name(content.get("schema"))
        if name in schemas:
            return content, name
    return None


def _without_null(field: dict[str, Any]) -> dict[str, Any]:
    options = [option for option in field.get("anyOf", []) if option.get("type") != "null"]
    if len(options) != 1:
        return field
    rest = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
    return {**options[0], **rest}


def _no_null_for_required(body: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A merge patch's `null` clears a field, and a field its record requires cannot be cleared
    (`merge_patch`: 422): in `<X>Update` such a field may be absent but is never null."""
    found = _body_schema(body, schemas)
    if found is None:
        return
    name = found[1]
    create = schemas.get(name.removesuffix("Update") + "Create", {})
    properties = schemas[name].get("properties", {})
    for field in create.get("required", []):
        if field in properties:
            properties[field] = _without_null(properties[field])


def _by_ref_body(body: dict[str, Any], schemas: dict[str, Any]) -> None:
    """`PUT .../by-ref/{external_ref}` takes the create body with its owner named (a partner key's
    own partner: the only one it may name) and the reference in the path, not the body."""
    found = _body_schema(body, schemas)
    if found is None:
        return
    content, name = found
    by_ref = name.removesuffix("Create") + "ByRef"
    if by_ref not in schemas:
        definition = copy.deepcopy(schemas[name])
        definition["title"] = by_ref
        properties = definition["properties"]
        properties.pop("external_ref", None)
        properties["owner_partner_id"] = {
            **_without_null(properties["owner_partner_id"]),
            "description": "The partner whose system owns this record: a partner key's own partner.",
        }
        definition["required"] = [*definition.get("required", []), "owner_partner_id"]
        definition["examples"] = [
            {**{k: v for k, v in example.items() if k != "external_ref"}, "owner_partner_id": EXAMPLE_OWNER}
            for example in definition.get("examples", [])
        ]
        schemas[by_ref] = definition
    content["schema"] = {"$ref": f"#/components/schemas/{by_ref}"}


def _ref_needs_owner(schema: dict[str, Any]) -> None:
    """`external_ref` needs `owner_partner_id` (`Owned`): a reference is unique per owner."""
    schemas = schema["components"]["schemas"]
    bodies = [o.get("requestBody") for _, _, o in _operations(schema)]
    for name in _reachable(schemas, bodies):
        properties = schemas[name].get("properties", {})
        if "external_ref" in properties and "owner_partner_id" in properties:
            schemas[name]["if"] = {"properties": {"external_ref": {"type": "string"}}, "required": ["external_ref"]}
            schemas[name]["then"] = {
                "properties": {"owner_partner_id": {"type": "string"}},
                "required": ["owner_partner_id"],
            }


def _link_created_records(schema: dict[str, Any]) -> None:
    """OpenAPI links from what creates a record to the operations on it by id (`$response.body#/id`):
    how a client, or a stateful test, goes on from a 201 without building URLs."""
    paths = schema["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            created = operation["responses"].get("201")
            if created is None or method not in ("post", "put"):
                continue
            collection = path.split("/by-ref/")[0]
            links = {}
            for item_path, item_operations in paths.items():
                parameter = item_path.removeprefix(f"{collection}/")
                if item_path.startswith(f"{collection}/{{") and parameter.count("{") == 1 and parameter.endswith("}"):
                    for item_method, item_operation in item_operations.items():
                        links[item_operation["operationId"]] = {
                            "operationId": item_operation["operationId"],
                            "parameters": {parameter.strip("{}"): "$response.body#/id"},
                            "description": f"The record created: {item_method.upper()} {item_path}.",
                        }
            if links:
                created["links"] = links


def _header(name: str, *, always: bool = False) -> dict[str, Any]:
    if always:
        return {**HEADERS[name], "required": True}
    return {"$ref": f"#/components/headers/{name}"}


def _declare_response_headers(path: str, method: str, operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    responses = operation["responses"]
    idempotent = any(p["name"].lower() == "idempotency-key" for p in operation.get("parameters", []))
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = _header("X-Request-ID")
        if path.startswith("/v1/"):  # what the rate limiter counts
            headers.update({name: _header(name) for name in RATE_LIMIT_HEADERS})
        if status == "429":
            headers["Retry-After"] = _header("Retry-After", always=True)
        elif status == "503" or (status == "409" and idempotent):
            headers["Retry-After"] = _header("Retry-After")
        if status == "201":
            headers["ETag"] = _header("ETag", always=True)
            headers["Location"] = _header("Location", always=True)
            if idempotent:
                headers["Idempotent-Replayed"] = _header("Idempotent-Replayed")
        elif status == "304" or (status == "200" and method in ("patch", "put")):
            headers["ETag"] = _header("ETag", always=True)
        elif status == "200" and "304" in responses:
            # A list streamed as CSV or NDJSON has no ETag; one representation always has one.
            headers["ETag"] = _header("ETag", always=len(response.get("content", {})) == 1)
            if _is_page(response, schemas):
                headers["Link"] = _header("Link")


def _is_page(response: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """A list page: its `next_cursor` is absent on the last page, and its Link header too."""
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    page = schemas.get(ref.rsplit("/", 1)[-1], {})
    return "next_cursor" in page.get("properties", {}) and "next_cursor" not in page.get("required", [])


def _ref_name(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return str(node["$ref"]).rsplit("/", 1)[-1]
    return None


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        name = _ref_name(node)
        if name is not None:
            yield name
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(schemas: dict[str, Any], roots: Iterable[Any]) -> set[str]:
    """The names of the component schemas `roots` refer to, directly or through others."""
    seen: set[str] = set()
    waiting = [name for root in roots for name in _refs(root)]
    while waiting:
        name = waiting.pop()
        if name not in seen and name in schemas:
            seen.add(name)
            waiting.extend(_refs(schemas[name]))
    return seen


def _open_enums(schema: dict[str, Any]) -> None:
    """Responses may carry enum values this document does not list yet; requests may not.

    Every enum reference in a response schema becomes `anyOf: [the enum, string]`, so a generated
    client types the known values and keeps an unknown one as a string instead of failing. A
    schema used both ways (an activity's participant) is copied for responses as `<name>Public`.
    """
    schemas = schema["components"]["schemas"]
    operations = [operation for _, _, operation in _operations(schema)]
    enums = {name for name, definition in schemas.items() if "enum" in definition}
    read = _reachable(schemas, [operation["responses"] for operation in operations]) - enums
    written = _reachable(schemas, [[o.get("requestBody"), o.get("parameters")] for o in operations]) - enums
    renamed = {name: f"{name}Public" for name in read & written}
    for name, public in renamed.items():
        # A response may gain fields: only requests refuse unknown ones.
        schemas[public] = {**copy.deepcopy(schemas[name]), "title": public}
        schemas[public].pop("additionalProperties", None)
    for name in (read - written) | set(renamed.values()):
        _rename_refs(schemas[name], renamed)
        _open_enum_refs(schemas[name], enums)
    for operation in operations:
        _rename_refs(operation["responses"], renamed)
    for name in enums:
        definition = schemas[name]
        definition["x-extensible-enum"] = list(definition["enum"])
        definition["description"] = f"{definition.get('description', '').strip()}\n\n{OPEN_ENUM}".strip()


def _rename_refs(node: Any, renamed: dict[str, str]) -> None:
    if isinstance(node, dict):
        name = _ref_name(node)
        if name in renamed:
            node["$ref"] = f"#/components/schemas/{renamed[name]}"
        for value in node.values():
            _rename_refs(value, renamed)
    elif isinstance(node, list):
        for value in node:
            _rename_refs(value, renamed)


def _open_enum_refs(node: Any, enums: set[str]) -> None:
    if isinstance(node, list):
        for value in node:
            _open_enum_refs(value, enums)
        return
    if not isinstance(node, dict):
        return
    if _ref_name(node) in enums:
        node["anyOf"] = [{"$ref": node.pop("$ref")}, {**UNKNOWN_VALUE}]
        return
    for key, value in node.items():
        if key == "anyOf" and any(_ref_name(option) in enums for option in value):
            # `anyOf: [enum, null]` (an optional field) gets the string beside the enum: not nested.
            node[key] = [option for option in value if option.get("type") != "null"] + [{**UNKNOWN_VALUE}]
            node[key] += [option for option in value if option.get("type") == "null"]
        else:
            _open_enum_refs(value, enums)
