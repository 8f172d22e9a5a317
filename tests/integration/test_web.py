"""The browser side: the dashboard at / with its hashed assets, the /docs page and the OpenAPI
document. The document must describe every route the router has, and describe nothing that
has no route except the operations listed in PENDING_ROUTES (built on other branches)."""

import json
import re

from fleetpulse_harness import REPO_ROOT

OPENAPI_SOURCE = REPO_ROOT / "src" / "web" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")

# Documented but not registered yet (a branch still to be merged). Empty: every documented
# operation is served.
pending_routes: set[str] = set()


def operations(doc):
    return {f"{m.upper()} {path}" for path, item in doc["paths"].items() for m in item if m in METHODS}


def test_every_registered_route_is_documented_and_every_documented_one_served(shared_server):
    status, headers, served = shared_server.get("/api/v1/openapi.json")
    assert status == 200
    assert served["x-undocumented-routes"] == [], "routes without documentation in " \
        f"src/web/openapi.json: {served['x-undocumented-routes']}"
    full = json.loads(OPENAPI_SOURCE.read_text())
    documented, offered = operations(full), operations(served)
    assert offered <= documented
    missing = documented - offered
    assert missing <= pending_routes, f"documented but not served: {sorted(missing - pending_routes)}"
    # A pending route that is served now must leave the list (it is checked like the others).
    assert not (pending_routes & offered), f"served now, remove from pending_routes: " \
        f"{sorted(pending_routes & offered)}"
    for op in ("GET /api/v1/devices", "POST /api/v1/telemetry", "GET /api/v1/openapi.json",
               "GET /", "GET /docs", "POST /write"):
        assert op in offered


def _refuse_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    # A repeated key (two merges adding the same status) is legal JSON for Python but breaks
    # Swagger UI's /docs, which then renders no operation at all.
    assert not duplicates, f"openapi.json repeats the key(s) {duplicates} in one object"
    return dict(pairs)


def test_openapi_document_is_well_formed():
    doc = json.loads(OPENAPI_SOURCE.read_text(), object_pairs_hook=_refuse_duplicate_keys)
    assert doc["openapi"].startswith("3.0")
    assert doc["info"]["title"] and doc["info"]["version"]
    ids = set()
    text = OPENAPI_SOURCE.read_text()
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            assert part in node, f"unresolved $ref #/{ref}"
            node = node[part]
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        params = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            assert method in METHODS
            assert op["responses"] and op["summary"] and op["tags"], (method, path)
            assert op["operationId"] not in ids, op["operationId"]
            ids.add(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            assert declared == params, (method, path, declared, params)
            # "Try it out" in /docs starts from these: every body and required parameter
            # has an example.
            for media_type, media in resolve(doc, op.get("requestBody", {})).get(
                    "content", {}).items():
                assert has_example(doc, media), f"{method} {path}: {media_type} body example"
            for param in item.get("parameters", []) + op.get("parameters", []):
                param = resolve(doc, param)
                if param.get("required"):
                    assert has_example(doc, param), f"{method} {path}: {param['name']} example"


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def has_example(doc, node):
    """An OpenAPI parameter or media type with `example`/`examples`, or a schema that has one."""
    return ("example" in node or bool(node.get("examples"))
            or "example" in resolve(doc, node.get("schema", {})))


def test_dashboard_and_assets_are_served_with_types_and_caching(shared_server):
    status, headers, body = shared_server.get("/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    html = body.decode() if isinstance(body, bytes) else body
    assert "<title>fleetpulse</title>" in html
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        status, headers, body = shared_server.get(asset)
        assert status == 200, asset
        assert headers["Content-Type"].startswith(
            "text/javascript" if asset.endswith(".js") else "text/css"), asset
        assert "immutable" in headers["Cache-Control"]
        assert int(headers["Content-Length"]) > 1000
    status, headers, _ = shared_server.request("HEAD", assets[0])
    assert status == 200
    status, _, body = shared_server.get("/assets/no-such-file.js")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_docs_page_is_self_contained(shared_server):
    status, headers, body = shared_server.get("/docs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    html = body.decode()
    assert "/api/v1/openapi.json" in html
    # No CDN: nothing is loaded from another host.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_browser_pages_are_public_with_auth_on(start_server):
    server = start_server(admin_key="web-test-admin-key")
    for path in ("/", "/docs", "/api/v1/openapi.json"):
        status, _, _ = server.get(path, key=None)
        assert status == 200, path
    status, _, _ = server.get("/api/v1/devices", key=None)
    assert status == 401
    status, _, doc = server.get("/api/v1/openapi.json", key=None)
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
