"""Each version's OpenAPI document: valid, complete, and in that version's shapes."""

import re

import pytest
from openapi_spec_validator import validate

DOCUMENTED_METHODS = {"get", "post", "put", "patch", "delete"}
PATH_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def document(client, version):
    response = client.get(f"/api/v{version}/openapi.json")
    assert response.status_code == 200
    assert response.headers["API-Version"] == version
    return response.get_json()


def test_document_is_valid_openapi(document, version):
    validate(document)
    assert document["info"]["version"] == version
    assert document["servers"] == [{"url": f"/api/v{version}"}]


def test_every_versioned_route_is_documented(app, document, version):
    prefix = f"/api/v{version}"
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(f"api.v{version}.") and not rule.rule.endswith("/openapi.json"):
            path = PATH_PARAM.sub(r"{\1}", rule.rule[len(prefix) :]) or "/"
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
        if method in DOCUMENTED_METHODS
    }
    assert documented == routes


def test_errors_are_documented_in_the_versions_shape(document, version):
    error = document["components"]["schemas"]["Error"]
    if version == "1":
        assert set(error["properties"]) == {"error", "details", "code"}
    else:
        assert set(error["properties"]) == {"success", "error"}
    create = document["paths"]["/books"]["post"]["responses"]
    assert {"201", "401", "409", "415", "422"} <= set(create)
    assert "Location" in create["201"]["headers"]


def test_delete_status_differs_by_version(document, version):
    responses = document["paths"]["/books/{book_id}"]["delete"]["responses"]
    if version == "1":
        assert "204" in responses and "content" not in responses["204"]
    else:
        assert "200" in responses


def test_directory_links_each_document(client):
    directory = client.get("/api").get_json()
    for entry in directory["versions"]:
        url = entry["openapi_url"].removeprefix("http://localhost")
        assert client.get(url).get_json()["info"]["version"] == entry["version"]


def test_book_writes_accept_a_token_or_an_api_key_in_its_header(document):
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    either = [{"bearerAuth": []}, {"apiKey": []}]
    assert document["paths"]["/books"]["post"]["security"] == either
    assert document["paths"]["/books/{book_id}"]["put"]["security"] == either
    # Keys never delete: only a token can succeed there.
    assert document["paths"]["/books/{book_id}"]["delete"]["security"] == [{"bearerAuth": []}]
    assert document["paths"]["/auth/me"]["get"]["security"] == [{"bearerAuth": []}]


def test_only_v2_documents_api_key_management(document, version):
    paths = {path for path in document["paths"] if path.startswith("/api-keys")}
    if version == "1":
        assert paths == set()
        return
    assert paths == {"/api-keys", "/api-keys/{key_id}"}
    create = document["paths"]["/api-keys"]["post"]["responses"]
    assert {"201", "401", "403", "422"} <= set(create)
    assert "Location" in create["201"]["headers"]
    created = document["components"]["schemas"]["ApiKeyCreatedData"]["properties"]
    listed = document["components"]["schemas"]["ApiKeyData"]["properties"]
    assert "key" in created and "key" not in listed and "key_hash" not in listed
