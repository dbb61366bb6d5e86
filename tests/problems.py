"""Expected problem+json bodies: the error shape is contract, so tests compare whole bodies."""

from http import HTTPStatus
from typing import Any

Body = dict[str, Any]


def problem(status: int, detail: str, code: str, errors: list[Body] | None = None) -> Body:
    body: Body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    return body if errors is None else body | {"errors": errors}


def body_error(pointer: str, message: str) -> Body:
    return {"in": "body", "pointer": pointer, "message": message}


def invalid_body(pointer: str, message: str) -> Body:
    return problem(422, "The request body is not valid.", "VALIDATION_FAILED", [body_error(pointer, message)])


def invalid_request(pointer: str, message: str, where: str = "body") -> Body:
    """What FastAPI's own request validation answers."""
    errors = [{"in": where, "pointer": pointer, "message": message}]
    return problem(422, "The request is not valid; see `errors`.", "VALIDATION_FAILED", errors)


def unknown_reference(*errors: tuple[str, str]) -> Body:
    items = [body_error(pointer, message) for pointer, message in errors]
    return problem(422, "The body refers to records that do not exist.", "UNKNOWN_REFERENCE", items)


def duplicate(what: str, pointer: str) -> Body:
    return problem(409, f"{what} is already taken.", "DUPLICATE", [body_error(pointer, f"{what} is already taken")])


def in_use(what: str, count: int, label: str, blocked_by: list[str]) -> Body:
    detail = f"{what} is still used by {count} {label}; move or delete them first."
    return problem(409, detail, "IN_USE") | {"blocked_by": sorted(blocked_by)}


def pointers(body: Body) -> list[tuple[str, str]]:
    return [(error["in"], error["pointer"]) for error in body["errors"]]


def assert_problem(response: Any, status: int, code: str) -> Body:
    """The response is a problem+json with this status and code; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: Body = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["detail"]
    return body
