"""``flask compare-traffic``: replay recorded traffic through a server's ``POST /api/v2/compare``
(contract §12), so that a client team sees what its own requests would look like on v2 without
changing the server's data.

Reads HAR 1.2 (browser devtools, proxies) or JSON lines of ``{"method", "path", "query"?,
"body"?}``; prints a per-endpoint summary; writes JSON, JUnit XML and HTML reports on request.
Exit status: 0 no difference, 1 differences, 2 bad input (unreadable file, no usable request,
a server that cannot be reached or refuses the credentials).
"""

from __future__ import annotations

import html
import json
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

import click

_PREFIX = re.compile(r"^/api(?:/v\d+)?(?=/|$)")
_ID_SEGMENT = re.compile(r"^\d+$")
NOT_API_CALLS = ("/docs", "/openapi.json")
MAX_RETRIES_AFTER_429 = 3


class BadInput(click.ClickException):
    exit_code = 2


@dataclass
class Entry:
    number: int
    method: str
    path: str
    query: dict = field(default_factory=dict)
    body: object = None

    @property
    def endpoint(self) -> str:
        segments = ["<id>" if _ID_SEGMENT.match(s) else s for s in self.path.split("/")]
        return f"{self.method} {'/'.join(segments) or '/'}"

    def as_request(self) -> dict:
        request = {"method": self.method, "path": self.path}
        if self.query:
            request["query"] = self.query
        if self.body is not None:
            request["body"] = self.body
        return request


@dataclass
class Skipped:
    number: int
    reason: str


# Reading ------------------------------------------------------------------------------------


def read_entries(path: Path) -> tuple[list[Entry], list[Skipped]]:
    """The requests in a HAR file or a JSON-lines file, and the entries skipped with why."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {path}: {exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict) and "log" in document:
            return _har_entries(document)
    return _json_lines(text)


def _har_entries(document: dict) -> tuple[list[Entry], list[Skipped]]:
    log = document.get("log")
    raw = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(raw, list):
        raise BadInput("not a HAR 1.2 file: log.entries is missing")
    entries, skipped = [], []
    for number, item in enumerate(raw, 1):
        request = item.get("request") if isinstance(item, dict) else None
        if not isinstance(request, dict):
            skipped.append(Skipped(number, "malformed entry: no request"))
            continue
        url = request.get("url")
        method = request.get("method")
        if not isinstance(url, str) or not isinstance(method, str):
            skipped.append(Skipped(number, "malformed entry: no method or url"))
            continue
        parts = urlsplit(url)
        body = None
        post = request.get("postData")
        if isinstance(post, dict) and post.get("text"):
            if "json" not in str(post.get("mimeType", "")).lower():
                skipped.append(Skipped(number, "the body is not JSON"))
                continue
            try:
                body = json.loads(post["text"])
            except ValueError:
                skipped.append(Skipped(number, "the body is not valid JSON"))
                continue
        _add(entries, skipped, number, method, parts.path, _query(parts.query), body)
    return entries, skipped


def _json_lines(text: str) -> tuple[list[Entry], list[Skipped]]:
    entries, skipped = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            skipped.append(Skipped(number, "malformed line: not JSON"))
            continue
        if not isinstance(item, dict):
            skipped.append(Skipped(number, "malformed line: not an object"))
            continue
        method, path = item.get("method"), item.get("path")
        query = item.get("query", {})
        if not isinstance(method, str) or not isinstance(path, str) or not isinstance(query, dict):
            skipped.append(Skipped(number, "malformed line: needs method and path"))
            continue
        parts = urlsplit(path)
        merged = {**_query(parts.query), **query}
        # A line's path may be relative to the version root (/books/7) or whole (/api/v1/...).
        where = parts.path if parts.path.startswith("/api") else "/api" + parts.path
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            skipped.append(Skipped(number, "outside the API"))
            continue
        _add(entries, skipped, number, method, where, merged, item.get("body"))
    return entries, skipped


def _query(text: str) -> dict:
    query: dict[str, object] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name in query:
            previous = query[name]
            query[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            query[name] = value
    return query


def _add(entries, skipped, number, method, path, query, body) -> None:
    if not path.startswith("/api"):
        skipped.append(Skipped(number, "outside the API"))
        return
    if not _PREFIX.match(path):
        skipped.append(Skipped(number, "outside the API"))
        return
    relative = _PREFIX.sub("", path, count=1) or "/"
    if any(relative.startswith(prefix) for prefix in NOT_API_CALLS):
        skipped.append(Skipped(number, "documentation, not an API call"))
        return
    entries.append(Entry(number, method.upper(), relative, query, body))


# Replaying ----------------------------------------------------------------------------------


class Server:
    def __init__(self, base_url: str, headers: dict[str, str]):
        self.url = base_url.rstrip("/") + "/api/v2/compare"
        self.headers = {"Content-Type": "application/json", **headers}

    def compare(self, entry: Entry) -> tuple[int, dict]:
        data = json.dumps(entry.as_request()).encode()
        for attempt in range(MAX_RETRIES_AFTER_429 + 1):
            request = urllib.request.Request(self.url, data=data, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                body = _json_or_empty(error.read())
                if error.code == 429 and attempt < MAX_RETRIES_AFTER_429:
                    time.sleep(min(int(error.headers.get("Retry-After") or 1), 10))  # as told
                    continue
                return error.code, body
            except (urllib.error.URLError, OSError) as exc:
                raise BadInput(f"cannot reach {self.url}: {exc}") from None
        raise AssertionError("unreachable")


def _json_or_empty(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def replay(entries: list[Entry], server: Server, progress) -> tuple[list[dict], list[Skipped]]:
    results, refused = [], []
    for entry in progress(entries):
        status, body = server.compare(entry)
        if status == 200 and isinstance(body.get("data"), dict):
            data = body["data"]
            results.append(
                {
                    "entry": entry.number,
                    "endpoint": entry.endpoint,
                    "request": entry.as_request(),
                    "v1": data["v1"],
                    "v2": data["v2"],
                    "differences": data["differences"],
                }
            )
        elif status in (401, 403):
            raise BadInput(
                f"the server refused the credentials ({status}): pass --token or --api-key"
            )
        else:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            detail = "; ".join(
                f"{name}: {' '.join(map(str, messages))}"
                for name, messages in (error.get("details") or {}).items()
            )
            refused.append(
                Skipped(entry.number, f"refused by the server ({status}) {detail}".strip())
            )
    return results, refused


# Reports ------------------------------------------------------------------------------------


def report(entries_read: int, results: list[dict], skipped: list[Skipped]) -> dict:
    endpoints: dict[str, dict] = {}
    for result in results:
        row = endpoints.setdefault(
            result["endpoint"],
            {"endpoint": result["endpoint"], "requests": 0, "with_differences": 0},
        )
        row["requests"] += 1
        row["with_differences"] += bool(result["differences"])
    return {
        "summary": {
            "requests": entries_read,
            "compared": len(results),
            "skipped": len(skipped),
            "with_differences": sum(bool(r["differences"]) for r in results),
        },
        "endpoints": sorted(endpoints.values(), key=lambda row: row["endpoint"]),
        "results": results,
        "skipped": [{"entry": s.number, "reason": s.reason} for s in sorted(skipped, key=_number)],
    }


def _number(skipped: Skipped) -> int:
    return skipped.number


def junit(data: dict) -> bytes:
    summary = data["summary"]
    suite = ElementTree.Element(
        "testsuite",
        name="compare-traffic",
        tests=str(summary["compared"] + summary["skipped"]),
        failures=str(summary["with_differences"]),
        skipped=str(summary["skipped"]),
        errors="0",
    )
    for result in data["results"]:
        request = result["request"]
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=result["endpoint"],
            name=f"#{result['entry']} {request['method']} {request['path']}",
        )
        if result["differences"]:
            failure = ElementTree.SubElement(
                case,
                "failure",
                message=f"{len(result['differences'])} difference(s) between v1 and v2",
            )
            failure.text = "\n".join(_line(d) for d in result["differences"])
    for item in data["skipped"]:
        case = ElementTree.SubElement(
            suite, "testcase", classname="skipped", name=f"#{item['entry']}"
        )
        ElementTree.SubElement(case, "skipped", message=item["reason"])
    return ElementTree.tostring(suite, encoding="utf-8", xml_declaration=True)


def _line(difference: dict) -> str:
    return (
        f"{difference['kind']} {difference['path'] or '(status)'}: "
        f"v1 {json.dumps(difference['v1'])} / v2 {json.dumps(difference['v2'])}"
    )


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2330;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d8dce4}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #eceff4;vertical-align:top}
th{background:#f4f6f9}.num{text-align:right}.ok{color:#1a7f37}.bad{color:#b42318}
code,pre{font:13px ui-monospace,monospace}pre{background:#f6f8fa;padding:.6rem;overflow:auto}
.kind{font-weight:600}.cards{display:flex;gap:1rem}.card{flex:1;background:#f4f6f9;padding:.8rem;
border-radius:6px}.card b{display:block;font-size:1.6rem}details{margin:.3rem 0}
"""


def page(data: dict) -> str:
    """A self-contained HTML report: the summary, then each endpoint with its differences."""
    esc = html.escape
    summary = data["summary"]
    cards = "".join(
        f'<div class="card"><b>{summary[key]}</b>{label}</div>'
        for key, label in (
            ("requests", "requests read"),
            ("compared", "compared"),
            ("with_differences", "with differences"),
            ("skipped", "skipped"),
        )
    )
    rows = "".join(
        f"<tr><td><code>{esc(row['endpoint'])}</code></td><td class=num>{row['requests']}</td>"
        f'<td class="num {"bad" if row["with_differences"] else "ok"}">'
        f"{row['with_differences']}</td></tr>"
        for row in data["endpoints"]
    )
    sections = []
    for row in data["endpoints"]:
        items = []
        for result in (r for r in data["results"] if r["endpoint"] == row["endpoint"]):
            request = result["request"]
            title = (
                f"#{result['entry']} <code>{esc(request['method'])} {esc(request['path'])}</code>"
                f" v1 {result['v1']['status']} / v2 {result['v2']['status']}"
            )
            if result["differences"]:
                cells = "".join(
                    f'<tr><td class="kind bad">{esc(d["kind"])}</td>'
                    f"<td><code>{esc(d['path'] or '(status)')}</code></td>"
                    f"<td><pre>{esc(json.dumps(d['v1'], indent=1))}</pre></td>"
                    f"<td><pre>{esc(json.dumps(d['v2'], indent=1))}</pre></td></tr>"
                    for d in result["differences"]
                )
                detail = (
                    "<table><tr><th>kind</th><th>v1 field</th><th>v1</th><th>v2</th></tr>"
                    f"{cells}</table>"
                )
            else:
                detail = '<p class="ok">No difference.</p>'
            bodies = "".join(
                f"<details><summary>{name} answer</summary>"
                f"<pre>{esc(json.dumps(result[name]['body'], indent=2))}</pre></details>"
                for name in ("v1", "v2")
            )
            items.append(f"<h3>{title}</h3>{detail}{bodies}")
        sections.append(f"<h2><code>{esc(row['endpoint'])}</code></h2>{''.join(items)}")
    skipped = "".join(
        f"<tr><td class=num>#{item['entry']}</td><td>{esc(item['reason'])}</td></tr>"
        for item in data["skipped"]
    )
    skipped_table = (
        f"<h2>Skipped</h2><table><tr><th>entry</th><th>reason</th></tr>{skipped}</table>"
        if skipped
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>v1 → v2 comparison</title>"
        f"<style>{_STYLE}</style></head><body><h1>v1 → v2: what your traffic would see</h1>"
        f'<div class="cards">{cards}</div><h2>Per endpoint</h2><table><tr><th>endpoint</th>'
        f"<th class=num>requests</th><th class=num>with differences</th></tr>{rows}</table>"
        f"{''.join(sections)}{skipped_table}</body></html>"
    )


# The command --------------------------------------------------------------------------------


@click.command("compare-traffic")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--base-url", required=True, help="The server to replay against, e.g. http://127.0.0.1:5000."
)
@click.option("--token", default=None, help="An access token to make the requests as.")
@click.option("--api-key", default=None, help="An API key to make the requests as.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the JSON report.")
@click.option("--junit", "junit_out", type=click.Path(path_type=Path), help="Write JUnit XML.")
@click.option("--html", "html_out", type=click.Path(path_type=Path), help="Write an HTML page.")
def compare_traffic_command(file, base_url, token, api_key, json_out, junit_out, html_out):
    """Replay recorded traffic (HAR 1.2 or JSON lines) through v1 and v2 of a running server,
    changing none of its data, and report the differences."""
    if token and api_key:
        raise BadInput("give --token or --api-key, not both")
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if api_key:
        headers["X-API-Key"] = api_key
    entries, skipped = read_entries(file)
    if not entries:
        reasons = sorted({s.reason for s in skipped}) or ["the file has no entries"]
        raise BadInput(f"no usable request in {file} ({'; '.join(reasons)})")
    server = Server(base_url, headers)

    def progress(items):
        with click.progressbar(items, label="Comparing", file=sys.stderr) as bar:
            yield from bar

    results, refused = replay(entries, server, progress)
    data = report(len(entries) + len(skipped), results, skipped + refused)
    if json_out:
        json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if junit_out:
        junit_out.write_bytes(junit(data))
    if html_out:
        html_out.write_text(page(data), encoding="utf-8")
    summary = data["summary"]
    width = max([len(row["endpoint"]) for row in data["endpoints"]] + [8])
    click.echo(f"{'endpoint':<{width}}  requests  with differences")
    for row in data["endpoints"]:
        click.echo(
            f"{row['endpoint']:<{width}}  {row['requests']:>8}  {row['with_differences']:>16}"
        )
    click.echo(
        f"{summary['requests']} requests read, {summary['compared']} compared, "
        f"{summary['with_differences']} with differences, {summary['skipped']} skipped"
    )
    for item in data["skipped"]:
        click.echo(f"  skipped #{item['entry']}: {item['reason']}")
    if not data["results"] and refused:
        raise BadInput("the server refused every request")
    click.get_current_context().exit(1 if summary["with_differences"] else 0)


COMMANDS = (compare_traffic_command,)
