"""tools/openapi_diff.py on crafted pairs of small documents: each rule catches its change,
additive changes pass, $refs are resolved and nested fields followed."""

from __future__ import annotations

import copy
import json

import pytest

from tools.openapi_diff import breaking_changes, main, report


def _error():
    return {
        "type": "object",
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
        "required": ["error"],
    }


def base() -> dict:
    """A small book API: a list with paging, a create, one book, a delete."""
    json_of = lambda ref: {"application/json": {"schema": {"$ref": ref}}}  # noqa: E731
    return {
        "openapi": "3.0.3",
        "info": {"title": "Books", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/books": {
                "get": {
                    "operationId": "list_books",
                    "parameters": [
                        {"in": "query", "name": "page", "schema": {"type": "integer"}},
                        {
                            "in": "query",
                            "name": "sort",
                            "schema": {"type": "string", "enum": ["title", "year"]},
                        },
                        {"$ref": "#/components/parameters/IfNoneMatch"},
                    ],
                    "responses": {
                        "200": {
                            "description": "A page",
                            "headers": {
                                "ETag": {"$ref": "#/components/headers/ETag"},
                                "X-Total-Count": {"schema": {"type": "integer"}},
                            },
                            "content": json_of("#/components/schemas/BookPage"),
                        },
                        "400": {"$ref": "#/components/responses/Error"},
                    },
                },
                "post": {
                    "operationId": "create_book",
                    "security": [{"bearerAuth": []}, {"apiKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": json_of("#/components/schemas/Book"),
                    },
                    "responses": {
                        "201": {
                            "description": "Created",
                            "headers": {
                                "Location": {"schema": {"type": "string"}, "required": True}
                            },
                            "content": json_of("#/components/schemas/BookOut"),
                        },
                        "422": {"$ref": "#/components/responses/Error"},
                    },
                },
            },
            "/books/{book_id}": {
                "parameters": [
                    {
                        "in": "path",
                        "name": "book_id",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "get": {
                    "operationId": "get_book",
                    "responses": {
                        "200": {
                            "description": "A book",
                            "content": json_of("#/components/schemas/BookOut"),
                        },
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                },
                "delete": {
                    "operationId": "delete_book",
                    "security": [{"bearerAuth": []}],
                    "responses": {"204": {"description": "Deleted"}},
                },
            },
        },
        "components": {
            "parameters": {
                "IfNoneMatch": {
                    "in": "header",
                    "name": "If-None-Match",
                    "schema": {"type": "string"},
                }
            },
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": json_of("#/components/schemas/Error"),
                }
            },
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {
                "Book": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": 200},
                        "year": {"type": "integer", "nullable": True, "minimum": 0},
                        "isbn": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["title"],
                },
                "BookOut": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "integer"},
                        "title": {"type": "string", "maxLength": 200},
                        "year": {"type": "integer", "nullable": True},
                        "created_at": {"type": "string", "format": "date-time"},
                        "status": {"type": "string", "enum": ["available", "lent"]},
                        "author": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                            "required": ["name"],
                        },
                    },
                    "required": ["id", "title", "year", "created_at"],
                },
                "BookPage": {
                    "type": "object",
                    "properties": {
                        "books": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/BookOut"},
                        },
                        "total": {"type": "integer"},
                    },
                    "required": ["books", "total"],
                },
                "Error": _error(),
            },
        },
    }


def lines(new: dict, old: dict | None = None) -> list[str]:
    return [str(change) for change in breaking_changes(old or base(), new)]


def rules(new: dict, old: dict | None = None) -> set[str]:
    return {change.rule for change in breaking_changes(old or base(), new)}


def changed(edit) -> dict:
    document = base()
    edit(document)
    return document


def schemas(document: dict) -> dict:
    return document["components"]["schemas"]


def op(document: dict, path: str, method: str) -> dict:
    return document["paths"][path][method]


# -- the baseline --------------------------------------------------------------------------------


def test_a_document_has_no_breaking_change_against_itself():
    assert breaking_changes(base(), base()) == []


def test_additive_changes_pass():
    def edit(d):
        d["paths"]["/authors"] = {"get": {"responses": {"200": {"description": "ok"}}}}
        d["paths"]["/books/{book_id}"]["put"] = {"responses": {"200": {"description": "ok"}}}
        op(d, "/books", "get")["parameters"].append(
            {"in": "query", "name": "author", "schema": {"type": "string"}}
        )
        responses = op(d, "/books", "get")["responses"]
        responses["200"]["headers"]["X-Request-ID"] = {"schema": {"type": "string"}}
        responses["429"] = {"$ref": "#/components/responses/Error"}
        responses["304"] = {"description": "Not modified"}
        schemas(d)["BookOut"]["properties"]["subtitle"] = {"type": "string"}  # a new field
        schemas(d)["Book"]["properties"]["subtitle"] = {"type": "string"}  # optional input
        schemas(d)["Book"]["properties"]["title"]["maxLength"] = 500  # accepts more
        schemas(d)["Book"]["properties"]["year"]["type"] = "number"  # accepts more
        op(d, "/books", "get")["parameters"][1]["schema"]["enum"].append("author")
        schemas(d)["BookOut"]["properties"]["year"]["nullable"] = False  # sends less
        schemas(d)["Error"]["required"].append("code")  # always present now
        op(d, "/books", "get")["deprecated"] = True
        op(d, "/books", "get")["summary"] = "Another summary"
        d["servers"].append({"url": "https://example.com/api/v1"})

    assert lines(changed(edit)) == []


# -- paths and operations ------------------------------------------------------------------------


def test_a_removed_path_is_caught():
    document = changed(lambda d: d["paths"].pop("/books/{book_id}"))
    assert lines(document) == ["path /books/{book_id} removed"]


def test_a_renamed_path_is_caught_with_a_hint():
    document = changed(lambda d: d["paths"].__setitem__("/book", d["paths"].pop("/books")))
    assert lines(document) == ["path /books removed (renamed to /book?)"]


def test_a_renamed_path_parameter_is_not_on_the_wire():
    def edit(d):
        item = d["paths"].pop("/books/{book_id}")
        item["parameters"][0]["name"] = "id"
        d["paths"]["/books/{id}"] = item

    assert lines(changed(edit)) == []


def test_a_removed_operation_is_caught():
    document = changed(lambda d: d["paths"]["/books/{book_id}"].pop("delete"))
    assert lines(document) == ["DELETE /books/{book_id}: operation removed"]


def test_a_changed_operation_id_is_caught():
    document = changed(lambda d: op(d, "/books", "get").__setitem__("operationId", "books"))
    assert lines(document) == ["GET /books: operationId list_books changed to books"]


def test_a_removed_server_is_caught():
    document = changed(lambda d: d.__setitem__("servers", [{"url": "/api/v9"}]))
    assert lines(document) == ["servers: server /api/v1 removed (now /api/v9)"]


def test_security_added_to_a_public_operation_is_caught():
    document = changed(
        lambda d: op(d, "/books", "get").__setitem__("security", [{"bearerAuth": []}])
    )
    assert lines(document) == ["GET /books: authentication now required"]


def test_a_removed_way_to_authenticate_is_caught():
    document = changed(
        lambda d: op(d, "/books", "post").__setitem__("security", [{"bearerAuth": []}])
    )
    assert lines(document) == ["POST /books: security apiKey no longer accepted"]


def test_a_security_scheme_defined_differently_is_caught():
    document = changed(
        lambda d: d["components"]["securitySchemes"]["apiKey"].__setitem__("name", "X-Key")
    )
    assert lines(document) == ['security scheme apiKey: name changed from "X-API-Key" to "X-Key"']


# -- parameters ----------------------------------------------------------------------------------


def test_a_removed_parameter_is_caught():
    document = changed(lambda d: op(d, "/books", "get")["parameters"].pop(0))
    assert lines(document) == ["GET /books: query parameter page removed"]


def test_a_renamed_parameter_is_caught_with_a_hint():
    document = changed(lambda d: op(d, "/books", "get")["parameters"][0].__setitem__("name", "pg"))
    assert lines(document) == ["GET /books: query parameter page removed (renamed to pg?)"]


def test_a_moved_parameter_is_caught():
    document = changed(
        lambda d: op(d, "/books", "get")["parameters"][0].__setitem__("in", "header")
    )
    assert lines(document) == ["GET /books: query parameter page moved to header"]


def test_a_parameter_becoming_required_is_caught():
    document = changed(
        lambda d: op(d, "/books", "get")["parameters"][0].__setitem__("required", True)
    )
    assert lines(document) == ["GET /books: query parameter page became required"]


def test_a_new_required_parameter_is_caught_and_a_new_optional_one_is_not():
    def edit(d):
        parameters = op(d, "/books", "get")["parameters"]
        parameters.append({"in": "query", "name": "shelf", "required": True, "schema": {}})
        parameters.append({"in": "query", "name": "author", "schema": {"type": "string"}})

    assert lines(changed(edit)) == ["GET /books: new required query parameter shelf"]


def test_a_parameter_serialised_differently_is_caught():
    document = changed(
        lambda d: op(d, "/books", "get")["parameters"][0].__setitem__("style", "spaceDelimited")
    )
    assert rules(document) == {"parameter-style-changed"}


def test_a_narrowed_parameter_type_is_caught():
    document = changed(
        lambda d: op(d, "/books", "get")["parameters"][2].__setitem__("schema", {"type": "integer"})
    )
    assert lines(document) == [
        "GET /books header parameter If-None-Match: value type changed from string to integer"
    ]


def test_an_enum_value_no_longer_accepted_is_caught():
    document = changed(lambda d: op(d, "/books", "get")["parameters"][1]["schema"]["enum"].pop())
    assert lines(document) == [
        'GET /books query parameter sort: value value "year" no longer accepted'
    ]


def test_a_new_enum_on_an_input_is_caught():
    document = changed(
        lambda d: op(d, "/books", "get")["parameters"][0]["schema"].__setitem__("enum", [1, 2])
    )
    assert lines(document) == ["GET /books query parameter page: value now limited to 1, 2"]


def test_a_changed_default_is_caught():
    old = changed(
        lambda d: op(d, "/books", "get")["parameters"][0]["schema"].__setitem__("default", 1)
    )
    new = changed(
        lambda d: op(d, "/books", "get")["parameters"][0]["schema"].__setitem__("default", 2)
    )
    assert lines(new, old) == ["GET /books query parameter page: value default changed from 1 to 2"]


# -- request bodies ------------------------------------------------------------------------------


def test_a_newly_required_request_body_is_caught():
    def edit(d):
        op(d, "/books/{book_id}", "delete")["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }

    assert lines(changed(edit)) == ["DELETE /books/{book_id}: request body now required"]
    old = changed(lambda d: op(d, "/books", "post")["requestBody"].__setitem__("required", False))
    assert lines(base(), old) == ["POST /books: request body became required"]


def test_a_removed_request_body_is_caught():
    document = changed(lambda d: op(d, "/books", "post").pop("requestBody"))
    assert lines(document) == ["POST /books: request body removed"]


def test_a_removed_request_media_type_is_caught():
    def edit(d):
        content = op(d, "/books", "post")["requestBody"]["content"]
        content["application/merge-patch+json"] = content.pop("application/json")

    assert lines(changed(edit)) == ["POST /books: request media type application/json removed"]


def test_a_new_required_request_field_is_caught():
    def edit(d):
        schemas(d)["Book"]["properties"]["author"] = {"type": "string"}
        schemas(d)["Book"]["required"].append("author")

    assert lines(changed(edit)) == ["POST /books request body: new required field author"]


def test_a_request_field_becoming_required_is_caught():
    document = changed(lambda d: schemas(d)["Book"]["required"].append("year"))
    assert lines(document) == ["POST /books request body: field year became required"]


def test_a_removed_request_field_is_caught():
    document = changed(lambda d: schemas(d)["Book"]["properties"].pop("isbn"))
    assert lines(document) == ["POST /books request body: field isbn removed"]


def test_unknown_request_fields_refused_is_caught():
    old = changed(lambda d: schemas(d)["Book"].pop("additionalProperties"))
    assert lines(base(), old) == ["POST /books request body: unknown fields now refused"]


def test_a_tightened_request_constraint_is_caught():
    def edit(d):
        schemas(d)["Book"]["properties"]["title"]["maxLength"] = 100
        schemas(d)["Book"]["properties"]["isbn"]["pattern"] = "^[0-9]{13}$"
        schemas(d)["Book"]["properties"]["tags"]["maxItems"] = 3

    assert lines(changed(edit)) == [
        "POST /books request body: field title maxLength tightened from 200 to 100",
        "POST /books request body: field isbn pattern ^[0-9]{13}$ now required",
        "POST /books request body: field tags maxItems tightened from none to 3",
    ]


def test_a_narrowed_request_type_is_caught():
    def edit(d):
        schemas(d)["Book"]["properties"]["year"].pop("nullable")
        schemas(d)["Book"]["properties"]["isbn"]["format"] = "isbn13"
        schemas(d)["Book"]["properties"]["tags"]["items"] = {"type": "string", "enum": ["sf"]}

    assert lines(changed(edit)) == [
        "POST /books request body: field year no longer accepts null",
        "POST /books request body: field isbn format isbn13 now required",
        'POST /books request body: field tags[] now limited to "sf"',
    ]


# -- responses -----------------------------------------------------------------------------------


def test_a_removed_status_is_caught():
    document = changed(lambda d: op(d, "/books/{book_id}", "get")["responses"].pop("404"))
    assert lines(document) == ["GET /books/{book_id}: response 404 removed"]


def test_a_changed_success_status_is_one_change():
    def edit(d):
        responses = op(d, "/books/{book_id}", "delete")["responses"]
        responses["200"] = responses.pop("204")

    assert lines(changed(edit)) == [
        "DELETE /books/{book_id}: success status changed from 204 to 200"
    ]


def test_a_new_success_status_is_caught_and_a_new_error_status_is_not():
    def edit(d):
        responses = op(d, "/books", "post")["responses"]
        responses["202"] = {"description": "Accepted"}
        responses["409"] = {"$ref": "#/components/responses/Error"}

    assert lines(changed(edit)) == ["POST /books: new success status 202"]


def test_a_status_covered_by_a_range_is_not_removed():
    def edit(d):
        responses = op(d, "/books/{book_id}", "get")["responses"]
        responses["4XX"] = responses.pop("404")

    assert lines(changed(edit)) == []


def test_a_removed_response_header_is_caught():
    document = changed(lambda d: op(d, "/books", "get")["responses"]["200"]["headers"].pop("ETag"))
    assert lines(document) == ["GET /books response 200: header ETag removed"]


def test_a_response_header_no_longer_required_is_caught():
    def edit(d):
        op(d, "/books", "post")["responses"]["201"]["headers"]["location"] = {"schema": {}}
        op(d, "/books", "post")["responses"]["201"]["headers"].pop("Location")

    assert lines(changed(edit)) == [
        "POST /books response 201: header Location no longer required",
        "POST /books response 201: header Location type widened from string to any",
    ]


def test_a_removed_response_media_type_is_caught():
    def edit(d):
        content = op(d, "/books/{book_id}", "get")["responses"]["200"]["content"]
        content["application/hal+json"] = content.pop("application/json")

    assert lines(changed(edit)) == [
        "GET /books/{book_id} response 200: media type application/json removed"
    ]


def test_a_removed_response_field_is_caught_everywhere_the_schema_is_used():
    document = changed(lambda d: schemas(d)["BookOut"]["properties"].pop("status"))
    assert lines(document) == [
        "GET /books response 200: field books[].status removed",
        "POST /books response 201: field status removed",
        "GET /books/{book_id} response 200: field status removed",
    ]


def test_a_renamed_response_field_is_caught_with_a_hint():
    def edit(d):
        properties = schemas(d)["BookOut"]["properties"]
        properties["published_year"] = properties.pop("year")
        schemas(d)["BookOut"]["required"][2] = "published_year"

    assert lines(changed(edit))[0] == (
        "GET /books response 200: field books[].year removed (renamed to books[].published_year?)"
    )


def test_a_nested_response_field_is_followed():
    document = changed(
        lambda d: schemas(d)["BookOut"]["properties"]["author"]["properties"].clear()
    )
    assert "GET /books/{book_id} response 200: field author.name removed" in lines(document)


def test_a_field_that_may_now_be_absent_is_caught():
    document = changed(lambda d: schemas(d)["BookOut"]["required"].remove("created_at"))
    assert "GET /books/{book_id} response 200: field created_at may now be absent" in lines(
        document
    )


def test_a_widened_response_type_is_caught():
    def edit(d):
        schemas(d)["BookOut"]["properties"]["id"]["type"] = "number"
        schemas(d)["BookOut"]["properties"]["title"]["nullable"] = True

    found = [line for line in lines(changed(edit)) if line.startswith("GET /books/{book_id}")]
    assert found == [
        "GET /books/{book_id} response 200: field id type widened from integer to number",
        "GET /books/{book_id} response 200: field title may now be null",
    ]


def test_a_changed_or_removed_response_format_is_caught():
    created_at = lambda d: schemas(d)["BookOut"]["properties"]["created_at"]  # noqa: E731
    removed = changed(lambda d: created_at(d).pop("format"))
    message = "field created_at format date-time no longer guaranteed"
    assert f"GET /books/{{book_id}} response 200: {message}" in lines(removed)
    other = changed(lambda d: created_at(d).__setitem__("format", "date"))
    message = "field created_at format changed from date-time to date"
    assert f"GET /books/{{book_id}} response 200: {message}" in lines(other)


def test_a_widened_response_enum_is_caught_and_a_narrowed_one_is_not():
    status = lambda d: schemas(d)["BookOut"]["properties"]["status"]  # noqa: E731
    added = changed(lambda d: status(d)["enum"].append("lost"))
    assert 'POST /books response 201: field status new value "lost" may be returned' in lines(added)
    removed = changed(lambda d: status(d)["enum"].remove("lent"))
    assert lines(removed) == []
    dropped = changed(lambda d: status(d).pop("enum"))
    assert (
        'POST /books response 201: field status no longer limited to "available", "lent"'
        in lines(dropped)
    )


def test_a_loosened_response_constraint_is_caught():
    document = changed(lambda d: schemas(d)["BookOut"]["properties"]["title"].pop("maxLength"))
    assert "POST /books response 201: field title maxLength loosened from 200 to none" in lines(
        document
    )


def test_the_same_change_in_several_responses_is_one_line():
    document = changed(lambda d: schemas(d)["Error"]["properties"].pop("code"))
    error = {"$ref": "#/components/responses/Error"}
    more = changed(lambda d: op(d, "/books", "get")["responses"].__setitem__("404", error))
    more_gone = copy.deepcopy(more)
    schemas(more_gone)["Error"]["properties"].pop("code")
    assert report(breaking_changes(more, more_gone))[0] == (
        "GET /books response 400, 404: field code removed"
    )
    assert len(report(breaking_changes(base(), document))) == 3  # one per operation with errors


# -- $ref, combinators, recursion ----------------------------------------------------------------


def test_a_ref_and_the_schema_it_names_are_the_same():
    def edit(d):
        op(d, "/books/{book_id}", "get")["responses"]["200"]["content"]["application/json"] = {
            "schema": copy.deepcopy(schemas(d)["BookOut"])
        }

    assert lines(changed(edit)) == []


def test_refs_to_parameters_headers_and_responses_are_resolved():
    def edit(d):
        d["components"]["parameters"]["IfNoneMatch"]["required"] = True
        d["components"]["headers"]["ETag"]["schema"] = {"type": "integer"}
        d["components"]["responses"]["Error"]["content"] = {}

    found = lines(changed(edit))
    assert "GET /books: header parameter If-None-Match became required" in found
    assert "GET /books response 200: header ETag type changed from string to integer" in found
    assert "GET /books response 400: media type application/json removed" in found


def test_fields_are_followed_through_all_of():
    def edit(d):
        book_out = schemas(d)["BookOut"]
        schemas(d)["Timestamps"] = {
            "type": "object",
            "properties": {"created_at": book_out["properties"].pop("created_at")},
            "required": ["created_at"],
        }
        schemas(d)["BookOut"] = {"allOf": [book_out, {"$ref": "#/components/schemas/Timestamps"}]}

    moved = changed(edit)
    assert lines(moved) == []  # the same fields, only composed
    gone = copy.deepcopy(moved)
    schemas(gone)["Timestamps"]["properties"].clear()
    assert "GET /books/{book_id} response 200: field created_at removed" in lines(gone, moved)


def test_fields_are_followed_through_one_of_and_any_of():
    def edit(d, key, branches):
        schemas(d)["BookOut"]["properties"]["year"] = {key: branches}

    old = changed(lambda d: edit(d, "oneOf", [{"type": "integer"}, {"type": "string"}]))
    three = [{"type": "integer"}, {"type": "string"}, {"type": "boolean"}]
    wider = changed(lambda d: edit(d, "anyOf", three))
    message = "field year type widened from integer|string to boolean|integer|string"
    assert f"GET /books/{{book_id}} response 200: {message}" in lines(wider, old)
    narrower = changed(lambda d: edit(d, "oneOf", [{"type": "integer"}]))
    assert lines(narrower, old) == []  # a response sending less is fine


def test_a_recursive_schema_is_compared_and_terminates():
    def edit(d):
        schemas(d)["BookOut"]["properties"]["related"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/BookOut"},
        }

    old = changed(edit)
    new = copy.deepcopy(old)
    schemas(new)["BookOut"]["properties"]["author"]["properties"]["name"]["type"] = "integer"
    found = lines(new, old)
    message = "field author.name type changed from string to integer"
    assert f"GET /books/{{book_id}} response 200: {message}" in found


def test_read_only_fields_of_a_request_are_not_its_inputs():
    read_only = {"type": "integer", "readOnly": True}
    old = changed(lambda d: schemas(d)["Book"]["properties"].__setitem__("id", read_only))
    assert lines(base(), old) == []


# -- the command ---------------------------------------------------------------------------------


def test_the_command_prints_each_change_and_exits_1(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(base()))
    new.write_text(json.dumps(changed(lambda d: d["paths"].pop("/books/{book_id}"))))
    assert main([str(old), str(new)]) == 1
    assert capsys.readouterr().out == "path /books/{book_id} removed\n"
    assert main([str(old), str(old)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("args", [[], ["one.json"], ["missing.json", "missing.json"]])
def test_the_command_exits_2_on_bad_input(tmp_path, capsys, args):
    assert main([str(tmp_path / a) for a in args]) == 2
    assert capsys.readouterr().err
