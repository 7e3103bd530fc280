"""OWASP API9:2023 Improper Inventory Management: every route is known, documented and versioned.

``INVENTORY`` maps each (rule, method) of the app's URL map (HEAD and OPTIONS aside) to the tests
of this package that cover it; a new route fails here until someone lists it, and every listed
test must exist. The security review's map of the OWASP API Security Top 10 (2023):

- API1 object level authorization, API2 broken authentication, API3 object property level
  authorization, API4 unrestricted resource consumption, API5 function level authorization,
  API6 sensitive business flows (sign-ups, catalogue writes, login lockout), API8 security
  misconfiguration and API9 (this module) each have a ``test_apiN_*`` module here.
- API7 Server Side Request Forgery does not apply: the API fetches no URL. No request field or
  header is ever used as an address; the only outbound connections are the database and the
  rate-limit storage, both named by the operator's configuration.
- API10 Unsafe Consumption of APIs does not apply: the API consumes no third-party API. Its only
  peers are its own database and Redis; the interactive docs are served from the installed
  package, not from a CDN (checked in the API8 module).
"""

from __future__ import annotations

import ast
import re
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.exceptions import HTTPException

from core.config import parse_datetime
from tests.security.conftest import DESELECTED

T1 = "tests/security/test_api1_object_level_authorization.py::"
T2 = "tests/security/test_api2_broken_authentication.py::"
T3 = "tests/security/test_api3_object_property_level_authorization.py::"
T4 = "tests/security/test_api4_unrestricted_resource_consumption.py::"
T5 = "tests/security/test_api5_function_level_authorization.py::"
T6 = "tests/security/test_api6_sensitive_business_flows.py::"
T8 = "tests/security/test_api8_security_misconfiguration.py::"
T9 = "tests/security/test_api9_improper_inventory_management.py::"

# Covers every v1 route: each one must announce its v2 successor.
V1_SUCCESSOR = T9 + "test_every_v1_route_announces_its_v2_successor_when_deprecated"
IN_OPENAPI = T9 + "test_every_versioned_route_is_in_its_versions_openapi_document"

INVENTORY: dict[tuple[str, str], list[str]] = {
    # The version directory and the documentation
    ("/api", "GET"): [
        T9 + "test_the_directory_lists_exactly_the_served_versions",
        T8 + "test_every_response_forbids_content_sniffing",
    ],
    ("/api/docs/", "GET"): [
        T8 + "test_the_interactive_docs_load_nothing_from_other_hosts",
        T8 + "test_every_response_forbids_content_sniffing",
    ],
    ("/api/docs/<path:path>", "GET"): [
        T8 + "test_the_interactive_docs_load_nothing_from_other_hosts",
        T8 + "test_404_and_405_are_json_never_html",
    ],
    ("/api/v1/", "GET"): [
        T9 + "test_each_versions_index_links_only_to_routes_this_app_serves",
        V1_SUCCESSOR,
    ],
    ("/api/v2/", "GET"): [
        T9 + "test_each_versions_index_links_only_to_routes_this_app_serves",
    ],
    ("/api/openapi.json", "GET"): [
        T9 + "test_the_unversioned_openapi_document_is_the_chosen_versions",
    ],
    ("/api/v1/openapi.json", "GET"): [IN_OPENAPI, V1_SUCCESSOR],
    ("/api/v2/openapi.json", "GET"): [
        IN_OPENAPI,
        T8 + "test_every_response_forbids_content_sniffing",
    ],
    # Health
    ("/api/health", "GET"): [
        T8 + "test_health_reports_its_status_and_nothing_about_the_deployment",
        T4 + "test_health_is_exempt_from_limits_so_probes_never_lock_out_clients",
    ],
    ("/api/v1/health", "GET"): [
        T8 + "test_health_reports_its_status_and_nothing_about_the_deployment",
        T4 + "test_health_is_exempt_from_limits_so_probes_never_lock_out_clients",
        V1_SUCCESSOR,
    ],
    ("/api/v2/health", "GET"): [
        T8 + "test_health_reports_its_status_and_nothing_about_the_deployment",
        T8 + "test_production_starts_with_strong_distinct_secrets_and_no_debug",
    ],
    # Accounts and tokens
    ("/api/auth/register", "POST"): [
        T3 + "test_register_refuses_privilege_fields_and_creates_nothing",
        T6 + "test_mass_registration_meets_429_on_every_url_and_creates_nothing_more",
    ],
    ("/api/v1/auth/register", "POST"): [
        T3 + "test_register_refuses_privilege_fields_and_creates_nothing",
        T3 + "test_register_ignores_read_only_fields",
        T2 + "test_short_passwords_are_refused_at_registration",
        T4 + "test_passwords_over_128_characters_are_refused_before_hashing",
        T6 + "test_the_registration_limit_is_per_client_address",
        V1_SUCCESSOR,
    ],
    ("/api/v2/auth/register", "POST"): [
        T3 + "test_register_refuses_privilege_fields_and_creates_nothing",
        T3 + "test_register_ignores_read_only_fields",
        T2 + "test_short_passwords_are_refused_at_registration",
        T4 + "test_passwords_over_128_characters_are_refused_before_hashing",
        T6 + "test_a_spoofed_forwarded_for_does_not_buy_more_registrations",
    ],
    ("/api/auth/login", "POST"): [
        T2 + "test_password_guessing_meets_429_on_every_url_even_with_the_right_password",
        T2 + "test_credential_stuffing_from_one_address_meets_429",
        T3 + "test_no_account_or_book_response_carries_a_password_or_its_hash",
    ],
    ("/api/v1/auth/login", "POST"): [
        T2 + "test_password_guessing_meets_429_on_every_url_even_with_the_right_password",
        T2 + "test_varying_the_emails_case_or_spaces_does_not_escape_the_lockout",
        T2 + "test_login_failures_do_not_reveal_whether_the_account_exists",
        T6 + "test_a_locked_account_does_not_lock_the_others",
        V1_SUCCESSOR,
    ],
    ("/api/v2/auth/login", "POST"): [
        T2 + "test_password_guessing_meets_429_on_every_url_even_with_the_right_password",
        T2 + "test_login_failures_do_not_reveal_whether_the_account_exists",
        T4 + "test_an_over_limit_login_body_is_413_before_any_password_check",
        T6 + "test_successful_sign_ins_never_lock_an_account",
    ],
    ("/api/auth/refresh", "POST"): [
        T2 + "test_unversioned_urls_refuse_unsigned_tokens",
        T3 + "test_no_account_or_book_response_carries_a_password_or_its_hash",
    ],
    ("/api/v1/auth/refresh", "POST"): [
        T2 + "test_an_access_token_cannot_refresh",
        T1 + "test_a_user_cannot_revoke_another_users_refresh_token",
        V1_SUCCESSOR,
    ],
    ("/api/v2/auth/refresh", "POST"): [
        T2 + "test_an_access_token_cannot_refresh",
        T1 + "test_a_user_cannot_revoke_another_users_refresh_token",
    ],
    ("/api/auth/logout", "POST"): [
        T2 + "test_unversioned_urls_refuse_unsigned_tokens",
        T3 + "test_no_account_or_book_response_carries_a_password_or_its_hash",
    ],
    ("/api/v1/auth/logout", "POST"): [
        T1 + "test_a_user_cannot_revoke_another_users_refresh_token",
        V1_SUCCESSOR,
    ],
    ("/api/v2/auth/logout", "POST"): [
        T1 + "test_a_user_cannot_revoke_another_users_refresh_token",
        T2 + "test_a_forged_or_unusable_admin_token_cannot_delete_a_book",
    ],
    ("/api/auth/me", "GET"): [
        T2 + "test_unversioned_urls_refuse_unsigned_tokens",
        T3 + "test_no_account_or_book_response_carries_a_password_or_its_hash",
    ],
    ("/api/v1/auth/me", "GET"): [
        T2 + "test_tokens_are_accepted_only_in_the_bearer_header",
        T2 + "test_a_deleted_users_token_never_signs_in_as_a_newer_account",
        T3 + "test_user_and_book_objects_expose_only_their_documented_fields",
        V1_SUCCESSOR,
    ],
    ("/api/v2/auth/me", "GET"): [
        T2 + "test_tokens_are_accepted_only_in_the_bearer_header",
        T2 + "test_a_deleted_users_token_never_signs_in_as_a_newer_account",
        T3 + "test_user_and_book_objects_expose_only_their_documented_fields",
        T8 + "test_account_and_key_responses_are_never_stored",
    ],
    # Books
    ("/api/books", "GET"): [
        T4 + "test_per_page_above_the_maximum_is_clamped_to_100",
        T8 + "test_unexpected_errors_are_a_bare_500_leaking_nothing",
    ],
    ("/api/v1/books", "GET"): [
        T4 + "test_per_page_above_the_maximum_is_clamped_to_100",
        T4 + "test_listing_costs_the_same_queries_for_a_small_and_a_full_page",
        T4 + "test_a_huge_page_number_is_an_empty_page_not_an_error",
        T4 + "test_every_client_meets_429_after_the_default_limit",
        V1_SUCCESSOR,
    ],
    ("/api/v2/books", "GET"): [
        T4 + "test_per_page_above_the_maximum_is_clamped_to_100",
        T4 + "test_listing_costs_the_same_queries_for_a_small_and_a_full_page",
        T4 + "test_a_filter_longer_than_its_column_never_reaches_the_database",
        T8 + "test_credentials_are_never_granted_to_an_unlisted_origin",
    ],
    ("/api/books", "POST"): [
        T2 + "test_unversioned_urls_refuse_unsigned_tokens",
        T3 + "test_book_create_ignores_read_only_fields",
        T4 + "test_a_body_over_one_mebibyte_is_413_and_stores_nothing",
        T5 + "test_a_read_key_cannot_create_or_update_books",
    ],
    ("/api/v1/books", "POST"): [
        T3 + "test_book_create_ignores_read_only_fields",
        T3 + "test_book_writes_refuse_unknown_fields",
        T4 + "test_a_chunked_body_over_the_limit_is_413_and_stores_nothing",
        T4 + "test_oversized_request_headers_are_431",
        T6 + "test_flooding_the_catalogue_meets_429_and_stores_nothing_more",
        V1_SUCCESSOR,
    ],
    ("/api/v2/books", "POST"): [
        T2 + "test_api_keys_in_the_url_are_refused_before_anything_runs",
        T3 + "test_book_create_ignores_read_only_fields",
        T4 + "test_deeply_nested_json_is_400_not_500",
        T6 + "test_flooding_the_catalogue_meets_429_and_stores_nothing_more",
    ],
    ("/api/books/<int:book_id>", "GET"): [
        T3 + "test_no_account_or_book_response_carries_a_password_or_its_hash",
    ],
    ("/api/v1/books/<int:book_id>", "GET"): [
        T3 + "test_user_and_book_objects_expose_only_their_documented_fields",
        V1_SUCCESSOR,
    ],
    ("/api/v2/books/<int:book_id>", "GET"): [
        T3 + "test_user_and_book_objects_expose_only_their_documented_fields",
        T8 + "test_every_response_forbids_content_sniffing",
    ],
    ("/api/books/<int:book_id>", "PUT"): [
        T1 + "test_a_user_cannot_update_another_users_book",
        T5 + "test_a_read_key_cannot_create_or_update_books",
    ],
    ("/api/v1/books/<int:book_id>", "PUT"): [
        T1 + "test_a_user_cannot_update_another_users_book",
        T1 + "test_claiming_ownership_in_the_body_grants_nothing",
        T1 + "test_a_book_without_an_owner_is_changed_only_by_an_admin",
        T3 + "test_book_update_ignores_read_only_fields",
        V1_SUCCESSOR,
    ],
    ("/api/v2/books/<int:book_id>", "PUT"): [
        T1 + "test_a_user_cannot_update_another_users_book",
        T1 + "test_books_of_a_deleted_account_do_not_pass_to_a_newer_account",
        T3 + "test_book_update_ignores_read_only_fields",
    ],
    ("/api/books/<int:book_id>", "DELETE"): [
        T5 + "test_only_an_admin_user_deletes_a_book",
        T5 + "test_a_demoted_admins_token_loses_admin_functions_at_once",
    ],
    ("/api/v1/books/<int:book_id>", "DELETE"): [
        T5 + "test_only_an_admin_user_deletes_a_book",
        T5 + "test_an_admin_user_deletes_a_book",
        T2 + "test_a_forged_or_unusable_admin_token_cannot_delete_a_book",
        V1_SUCCESSOR,
    ],
    ("/api/v2/books/<int:book_id>", "DELETE"): [
        T5 + "test_only_an_admin_user_deletes_a_book",
        T5 + "test_a_non_admin_is_refused_before_the_book_is_looked_up",
        T2 + "test_a_forged_or_unusable_admin_token_cannot_delete_a_book",
    ],
    # API keys (v2 only; the unversioned URL serves them when API-Version names 2)
    ("/api/api-keys", "POST"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_an_admin_user_manages_api_keys",
        T5 + "test_api_key_management_does_not_exist_in_v1",
    ],
    ("/api/api-keys", "GET"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_an_admin_user_manages_api_keys",
        T5 + "test_api_key_management_does_not_exist_in_v1",
    ],
    ("/api/api-keys/<int:key_id>", "GET"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_an_admin_user_manages_api_keys",
        T5 + "test_api_key_management_does_not_exist_in_v1",
    ],
    ("/api/api-keys/<int:key_id>", "DELETE"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_an_admin_user_manages_api_keys",
        T5 + "test_api_key_management_does_not_exist_in_v1",
    ],
    ("/api/api-keys/<int:key_id>", "PATCH"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_an_admin_user_manages_api_keys",
        T5 + "test_api_key_management_does_not_exist_in_v1",
    ],
    ("/api/v2/api-keys/<int:key_id>", "PATCH"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_an_admin_user_manages_api_keys",
    ],
    # A user's own version pin (v2 only, like API keys)
    ("/api/auth/me/api-version", "GET"): [
        T5 + "test_the_pin_routes_need_a_signed_in_user",
        T5 + "test_the_pin_routes_do_not_exist_in_v1",
    ],
    ("/api/auth/me/api-version", "PUT"): [
        T5 + "test_the_pin_routes_need_a_signed_in_user",
        T5 + "test_a_user_pins_only_their_own_version",
        T5 + "test_the_pin_routes_do_not_exist_in_v1",
    ],
    ("/api/v2/auth/me/api-version", "GET"): [
        T5 + "test_the_pin_routes_need_a_signed_in_user",
        T5 + "test_a_user_pins_only_their_own_version",
    ],
    ("/api/v2/auth/me/api-version", "PUT"): [
        T5 + "test_the_pin_routes_need_a_signed_in_user",
        T5 + "test_a_user_pins_only_their_own_version",
    ],
    ("/api/auth/me/usage", "GET"): [
        T5 + "test_a_client_reads_only_its_own_usage",
        T5 + "test_the_usage_routes_do_not_exist_in_v1",
    ],
    ("/api/v2/auth/me/usage", "GET"): [T5 + "test_a_client_reads_only_its_own_usage"],
    ("/api/admin/version-usage", "GET"): [
        T5 + "test_only_an_admin_user_reads_every_clients_usage",
        T5 + "test_the_usage_routes_do_not_exist_in_v1",
    ],
    ("/api/v2/admin/version-usage", "GET"): [
        T5 + "test_only_an_admin_user_reads_every_clients_usage",
        T5 + "test_an_admin_user_reads_every_clients_usage",
    ],
    ("/api/compare", "POST"): [
        T5 + "test_compare_runs_as_the_caller_and_refuses_token_routes",
        T5 + "test_the_compare_route_does_not_exist_in_v1",
    ],
    ("/api/v2/compare", "POST"): [
        T5 + "test_compare_runs_as_the_caller_and_refuses_token_routes",
        IN_OPENAPI,
    ],
    ("/api/v2/api-keys", "POST"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T3 + "test_api_key_creation_refuses_secret_and_state_fields",
        T3 + "test_api_keys_are_shown_once_and_their_hashes_never",
    ],
    ("/api/v2/api-keys", "GET"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_head_does_not_bypass_the_admin_check",
        T5 + "test_a_promoted_users_token_gains_admin_functions_at_once",
        T3 + "test_api_keys_are_shown_once_and_their_hashes_never",
    ],
    ("/api/v2/api-keys/<int:key_id>", "GET"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_head_does_not_bypass_the_admin_check",
        T3 + "test_api_keys_are_shown_once_and_their_hashes_never",
    ],
    ("/api/v2/api-keys/<int:key_id>", "DELETE"): [
        T5 + "test_only_an_admin_user_manages_api_keys",
        T5 + "test_an_admin_user_manages_api_keys",
        T3 + "test_api_keys_are_shown_once_and_their_hashes_never",
    ],
}

# Answered by the router itself, for every route.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
PATH_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def routes(app) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - IMPLICIT_METHODS
    }


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


# --- the inventory ------------------------------------------------------------------------------


def test_every_route_is_listed_in_the_inventory(app):
    served = routes(app)

    assert sorted(served - INVENTORY.keys()) == [], "new routes: list them in INVENTORY"
    assert sorted(INVENTORY.keys() - served) == [], "gone routes: remove them from INVENTORY"
    assert all(INVENTORY.values()), "every route needs at least one test"


def test_every_listed_test_exists(request):
    def function_id(nodeid: str) -> str:
        return nodeid.split("[", 1)[0]

    collected = {function_id(item.nodeid) for item in request.session.items}
    collected |= {function_id(n) for n in request.config.stash.get(DESELECTED, set())}
    files_in_session = {test_id.split("::", 1)[0] for test_id in collected}
    listed = {test_id for tests in INVENTORY.values() for test_id in tests}

    missing = []
    for test_id in sorted(listed):
        file, name = test_id.split("::", 1)
        if file in files_in_session:
            if test_id not in collected:
                missing.append(test_id)
            continue
        # A partial run (one module, say) did not collect that file: read its source instead.
        path = request.config.rootpath / file
        if not path.is_file() or name not in _test_functions(path):
            missing.append(test_id)
    assert missing == []


# --- every version documented, deprecations announced -------------------------------------------


def test_every_versioned_route_is_in_its_versions_openapi_document(app, client, version):
    prefix = f"/api/v{version}"
    served = {
        (PATH_PARAM.sub(r"{\1}", rule[len(prefix) :]) or "/", method.lower())
        for rule, method in routes(app)
        if (rule == prefix or rule.startswith(prefix + "/"))
        # The document does not describe itself.
        and rule != f"{prefix}/openapi.json"
    }
    response = client.get(f"{prefix}/openapi.json")
    assert response.status_code == 200
    document = response.get_json()

    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "delete", "patch")
    }

    assert documented == served
    assert document["info"]["version"] == version


def test_the_unversioned_openapi_document_is_the_chosen_versions(client, version):
    chosen = client.get("/api/openapi.json", headers={"API-Version": version})

    assert chosen.status_code == 200
    assert chosen.headers["API-Version"] == version
    assert chosen.get_json() == client.get(f"/api/v{version}/openapi.json").get_json()


def test_the_directory_lists_exactly_the_served_versions(app, client):
    directory = client.get("/api").get_json()
    served = {
        match.group(1)
        for rule, _method in routes(app)
        if (match := re.match(r"^/api/v(\d+)/", rule))
    }

    assert [entry["version"] for entry in directory["versions"]] == sorted(served)
    for entry in directory["versions"]:
        base = entry["base_url"].removeprefix("http://localhost")
        assert client.get(f"{base}/health").status_code == 200


def test_each_versions_index_links_only_to_routes_this_app_serves(app, client, version):
    response = client.get(f"/api/v{version}")
    assert response.status_code == 200
    adapter = app.url_map.bind("localhost")

    links = response.get_json()["links"]

    assert links["self"] == f"http://localhost/api/v{version}"
    for rel, url in links.items():
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("http", "localhost"), (rel, url)
        endpoint, _args = adapter.match(parts.path, method="GET")
        assert endpoint.startswith((f"api.v{version}.", "docs.")), (rel, endpoint)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/v0/books", {}, 404),
        ("/api/v3/books", {}, 404),
        ("/api/v2.1/books", {}, 404),
        ("/api/books", {"API-Version": "3"}, 400),
        ("/api/books", {"API-Version": "0"}, 400),
        ("/api/books", {"API-Version": "1.0"}, 400),
    ],
)
def test_unknown_or_retired_versions_are_not_served(client, path, headers, status):
    response = client.get(path, headers=headers)

    assert response.status_code == status
    assert response.is_json
    if status == 400:
        assert response.get_json()["code"] == "unsupported_version"


def test_every_v1_route_announces_its_v2_successor_when_deprecated(make_app, make_book):
    deprecated_at, sunset_at = "2026-06-30T00:00:00Z", "2027-01-01T00:00:00Z"
    app = make_app(V1_DEPRECATED_AT=deprecated_at, V1_SUNSET_AT=sunset_at)
    client = app.test_client()
    adapter = app.url_map.bind("localhost")
    book = make_book()
    deprecation = f"@{int(parse_datetime('x', deprecated_at).timestamp())}"
    sunset = format_datetime(parse_datetime("x", sunset_at), usegmt=True)
    v1_routes = sorted((r, m) for r, m in routes(app) if r.startswith("/api/v1/"))
    assert v1_routes

    for rule, method in v1_routes:
        path = PATH_PARAM.sub(str(book.id), rule)
        response = client.open(path, method=method, json={} if method in ("POST", "PUT") else None)
        assert response.headers["Deprecation"] == deprecation, rule
        assert response.headers["Sunset"] == sunset, rule
        successor = re.search(
            r'<http://localhost([^>]*)>; rel="successor-version"', response.headers["Link"]
        )
        assert successor, (rule, response.headers["Link"])
        assert successor.group(1) == "/api/v2" + path.removeprefix("/api/v1")
        try:
            endpoint, _args = adapter.match(successor.group(1), method=method)
        except HTTPException:
            pytest.fail(f"{method} {rule} has no v2 successor")
        assert endpoint.startswith("api.v2."), endpoint

    v2 = client.get("/api/v2/books")
    assert "Deprecation" not in v2.headers and "Sunset" not in v2.headers
    statuses = {e["version"]: e["status"] for e in client.get("/api").get_json()["versions"]}
    assert statuses == {"1": "deprecated", "2": "current"}
    assert client.get("/api/v1").get_json()["status"] == "deprecated"
