"""v2: envelope-and-links presentation (presenter.py); routes are shared in api.resources."""

from api.v2.presenter import V2Presenter
from api.versioning.registry import BASE_RESOURCES, Change, Version


def _book_to_v1(body: dict) -> dict:
    return {name: value for name, value in body["data"].items() if name != "links"}


def _book_page_to_v1(body: dict) -> dict:
    pagination = body["pagination"]
    return {
        "books": [_book_to_v1({"data": book}) for book in body["data"]],
        "total": pagination["total_items"],
        "page": pagination.get("page"),
        "per_page": pagination["per_page"],
    }


def _error_to_v1(body: dict) -> dict:
    error = body["error"]
    v1 = {"error": error["message"]}
    if "details" in error:
        v1["details"] = error["details"]
    if "reason" in error:
        v1["code"] = error["reason"]
    return v1


VERSION = Version(
    number="2",
    presenter_class=V2Presenter,
    description=(
        "Version 2: a {success, data, links} envelope with pagination and HATEOAS links. "
        "Invalid query values are refused; refresh tokens rotate."
    ),
    predecessor="1",
    strict_query=True,
    rotate_refresh_tokens=True,
    resources=BASE_RESOURCES | {"api_keys", "api_version", "usage", "compare"},
    changes=(
        Change(
            "A book is wrapped in `{success, data, links}` and carries `links.self` and "
            "`links.collection`.",
            resource="book",
            downgrade=_book_to_v1,
        ),
        Change(
            "A list gives its books in `data`, paging in `pagination` (`total` becomes "
            "`total_items`) and `links`, and accepts `cursor`.",
            resource="book_page",
            downgrade=_book_page_to_v1,
        ),
        Change(
            "Errors are `{success: false, error: {message, code, details, reason}}`: v1's "
            "`code` is `error.reason`, `error.code` is the HTTP status.",
            resource="error",
            downgrade=_error_to_v1,
        ),
        Change("`DELETE /books/{book_id}` answers 200 with a message instead of 204."),
        Change("Unparseable query values are refused (400 `invalid_query`), not defaulted."),
        Change("Refresh rotates: a new refresh token each time, the presented one is revoked."),
        Change("Login and refresh add `expires_in`; register adds a `Location` header."),
        Change("API key management (`/api-keys`, admins only) is new."),
        Change(
            "Version usage reports are new: `/auth/me/usage` and, for admins, "
            "`/admin/version-usage`."
        ),
        Change(
            "`POST /compare` is new: a request run through v1 and v2 with nothing written, "
            "and the differences."
        ),
    ),
)
