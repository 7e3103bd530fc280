"""docs/MIGRATING.md agrees with the generated OpenAPI documents and with the changes each
version declares in the registry, so it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.versions import REGISTRY

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "MIGRATING.md"
NONE = "—"


def _block(name: str) -> str | None:
    match = re.search(rf"<!-- {name}:start -->(.*?)<!-- {name}:end -->", GUIDE.read_text(), re.S)
    return match.group(1) if match else None


def _table(name: str) -> list[list[str]]:
    block = _block(name)
    rows = [line.strip().strip("|").split("|") for line in block.strip().splitlines()]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # skip header and rule


@pytest.fixture
def documents(client) -> dict[str, dict]:
    return {v: client.get(f"/api/v{v}/openapi.json").get_json() for v in ("1", "2")}


@pytest.mark.parametrize(
    "version", [v for v in REGISTRY if v.predecessor is not None], ids=lambda v: f"v{v.number}"
)
def test_the_guide_lists_every_declared_change(version):
    name = f"changes:v{version.number}"
    if _block(name) is None:
        pytest.skip(f"the guide has no {name} table (flask changelog --markdown prints it)")
    rows = [row[0] for row in _table(name)]
    assert rows == [change.description for change in version.changes]


def test_the_guide_documents_the_changes_of_v2():
    assert _block("changes:v2") is not None


def _operations(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _response_schema(document: dict, response: str) -> dict | None:
    method, path, status = response.split(" ")
    responses = document["paths"][path][method.lower()]["responses"]
    content = responses[status].get("content")
    return _resolve(document, content["application/json"]["schema"]) if content else None


def _has_path(document: dict, schema: dict, field_path: str) -> bool:
    for segment in field_path.split("."):
        name, is_list = segment.removesuffix("[]"), segment.endswith("[]")
        properties = schema.get("properties", {})
        if name not in properties:
            return False
        schema = _resolve(document, properties[name])
        if is_list:
            if schema.get("type") != "array":
                return False
            schema = _resolve(document, schema["items"])
    return True


def test_endpoint_table_lists_every_operation_of_both_versions(documents):
    listed = {(row[0], row[1]) for row in _table("endpoints")}
    assert listed == _operations(documents["1"]) | _operations(documents["2"])


@pytest.mark.parametrize("version", ["1", "2"])
def test_endpoint_table_statuses_match_the_documents(documents, version):
    column = 2 if version == "1" else 3
    document = documents[version]
    for row in _table("endpoints"):
        method, path, status = row[0], row[1], row[column]
        if status == NONE:
            assert (method, path) not in _operations(document), row
        else:
            responses = document["paths"][path][method.lower()]["responses"]
            successes = [code for code in responses if code.startswith("2")]
            assert successes == [status], row


@pytest.mark.parametrize("version", ["1", "2"])
def test_every_mapped_field_exists_in_its_version(documents, version):
    column = 1 if version == "1" else 2
    document = documents[version]
    for row in _table("fields"):
        if row[column] == NONE:
            continue
        schema = _response_schema(document, row[0])
        assert schema is not None and _has_path(document, schema, row[column]), row


def test_every_top_level_v1_field_of_a_mapped_response_is_mapped(documents):
    rows = _table("fields")
    for response in {row[0] for row in rows if row[0].split(" ")[2].startswith("2")}:
        schema = _response_schema(documents["1"], response)
        mapped = {row[1].split(".")[0].removesuffix("[]") for row in rows if row[0] == response}
        assert set(schema.get("properties", {})) <= mapped, response


def test_the_guide_is_linked_from_the_readme():
    readme = GUIDE.parents[1] / "README.md"
    assert "docs/MIGRATING.md" in readme.read_text()
