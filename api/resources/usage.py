"""Version usage reports (contract §11, v2 on): a client's own, and the admin's per version."""

from flask import Blueprint, current_app, request

from api.platform import usage as counting
from api.platform.authentication import authenticated, current_principal
from api.platform.openapi import document
from api.versioning import present, registry, serves, serving
from core.errors import BadRequest
from core.services import usage
from core.validation import UsageQuerySchema, VersionUsageQuerySchema, load_query

_TAGS = ("usage",)


@document("usage", query=UsageQuerySchema, auth="access_or_key", tags=_TAGS)
@serves("usage")
@authenticated()
def my_usage():
    """This client's requests per version and endpoint over the last ``days`` UTC days."""
    params = load_query(UsageQuerySchema(), request.args, strict=serving().strict_query)
    client = current_principal().client
    report = usage.client_usage(counting.store(), client, params["days"], _now())
    return present().usage(report)


@document(
    "version_usage_page",
    query=VersionUsageQuerySchema,
    auth="access_or_key",
    errors=(403,),
    tags=_TAGS,
)
@serves("usage")
@authenticated(admin=True)
def version_usage():
    """One row per client that called ``version`` in the window, most requests first."""
    params = load_query(VersionUsageQuerySchema(), request.args, strict=True)
    version = params["version"]
    if version is not None and version not in registry():
        raise BadRequest(
            "Invalid query parameters",
            details={"version": [f"Must be one of: {', '.join(registry().numbers)}."]},
            reason="invalid_query",
        )
    page = usage.version_usage(
        counting.store(), version, params["days"], _now(), params["page"], params["per_page"]
    )
    return present().version_usage_page(page, params)


def _now():
    return current_app.config["CLOCK"]()


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/auth/me/usage", view_func=my_usage, methods=["GET"])
    bp.add_url_rule("/admin/version-usage", view_func=version_usage, methods=["GET"])
