"""API-key authentication and roles (read < write < admin), key management, delete-all, and
protected mode (no keys: loopback only)."""

import time

import pytest

from fleetpulse_harness import RFC3339_MS_UTC, assert_error, use_shared

ADMIN_KEY = "test-admin-key-0123456789"


@pytest.fixture
def secured(start_server):
    """A server with auth on, seeded with ADMIN_KEY."""
    return start_server(admin_key=ADMIN_KEY)


@pytest.fixture(scope="module")
def _module_secured(module_server_factory):
    return module_server_factory(admin_key=ADMIN_KEY)


@pytest.fixture
def shared_secured(_module_secured, request):
    """Like `secured`, shared by the tests of this module that change nothing."""
    return use_shared(_module_secured, request)


def create_key(server, name: str, role: str) -> dict:
    resp = server.post("/api/v1/admin/api-keys", {"name": name, "role": role}, key=ADMIN_KEY)
    assert resp.status == 201, resp
    return resp.json


# -- who may enter -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_health_and_ready_answer_without_a_key(shared_secured, path):
    assert shared_secured.get(path, key=None).status == 200


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/devices"), ("GET", "/api/v1/devices/d1"), ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/health/detailed"), ("GET", "/metrics"), ("POST", "/api/v1/heartbeat"),
    ("POST", "/api/v1/devices"), ("GET", "/api/v1/admin/api-keys"),
    ("POST", "/api/v1/admin/delete-all?confirm=yes"), ("GET", "/api/v1/no-such-path"),
    ("GET", "/api/v1/latest"), ("GET", "/api/v1/export")])
# The dashboard's static shell (/, /assets/...), /docs and /api/v1/openapi.json hold no data
# and answer without a key (a browser cannot send a Bearer header when it opens a page; the
# dashboard then asks for a key): docs/api-notes.md, "Browser side"; test_web.py checks it.
def test_everything_else_is_401_without_a_key(shared_secured, method, path):
    body = {"device_id": "d1"} if method == "POST" else None
    assert_error(shared_secured.request(method, path, body, key=None), 401, "unauthorized")


def test_nothing_changes_when_an_unauthenticated_write_is_refused(secured):
    secured.post("/api/v1/heartbeat", {"device_id": "sneaky"}, key=None)
    assert secured.get("/api/v1/devices/sneaky").status == 404


@pytest.mark.parametrize("authorization", [
    f"Bearer {ADMIN_KEY}x", f"Bearer {ADMIN_KEY[:-1]}", "Bearer ", "Bearer", ADMIN_KEY,
    f"Basic {ADMIN_KEY}", "Bearer wrong-key"])
def test_wrong_or_malformed_authorization_is_401(shared_secured, authorization):
    resp = shared_secured.get("/api/v1/devices", key=None, headers={"Authorization": authorization})
    assert_error(resp, 401, "unauthorized")


def test_401_carries_a_www_authenticate_bearer_challenge(shared_secured):
    resp = shared_secured.get("/api/v1/devices", key=None)
    assert resp.status == 401
    assert (resp.header("WWW-Authenticate") or "").lower().startswith("bearer"), resp.headers


def test_admin_key_reaches_every_area(secured):
    assert secured.get("/api/v1/devices").status == 200
    assert secured.post("/api/v1/devices", {"device_id": "a1"}).status == 201
    assert secured.heartbeat("a1")["status"] == "online"
    assert secured.get("/metrics").status == 200
    assert secured.get("/api/v1/admin/api-keys").status == 200


def test_admin_key_from_the_environment_turns_auth_on(start_server):
    server = start_server(env={"FLEETPULSE_ADMIN_KEY": ADMIN_KEY})
    assert_error(server.get("/api/v1/devices"), 401, "unauthorized")
    assert server.get("/api/v1/devices", key=ADMIN_KEY).status == 200


def test_without_an_admin_key_auth_is_off_on_loopback(server):
    assert server.get("/api/v1/devices", key=None).status == 200


# -- key management ----------------------------------------------------------------------------

def test_creating_a_key_shows_the_secret_once(secured):
    status, _, body = secured.post("/api/v1/admin/api-keys", {"name": "ci", "role": "write"})
    assert status == 201, body
    assert {"id", "name", "role", "key", "created_at"} <= set(body)
    assert body["name"] == "ci"
    assert body["role"] == "write"
    assert isinstance(body["key"], str) and len(body["key"]) >= 16
    assert RFC3339_MS_UTC.match(body["created_at"]), body
    assert body["key"] != ADMIN_KEY


def test_each_created_key_is_distinct(secured):
    first = create_key(secured, "one", "read")
    second = create_key(secured, "two", "read")
    assert first["key"] != second["key"]
    assert first["id"] != second["id"]


def test_listing_keys_never_shows_a_secret(secured):
    created = create_key(secured, "dashboard", "read")
    create_key(secured, "ops", "admin")
    status, _, body = secured.get("/api/v1/admin/api-keys")
    assert status == 200, body
    keys = body["keys"]
    assert isinstance(keys, list)
    for entry in keys:
        assert "key" not in entry, entry
        assert created["key"] not in str(entry)
        assert ADMIN_KEY not in str(entry)
    listed = {k["id"]: k for k in keys}
    assert created["id"] in listed
    assert listed[created["id"]]["name"] == "dashboard"
    assert listed[created["id"]]["role"] == "read"


@pytest.mark.parametrize("body", [{"name": "x", "role": "root"}, {"name": "x", "role": 3},
                                  {"name": "x"}, {"name": 5, "role": "read"},
                                  {"name": "", "role": "read"}])
def test_creating_a_key_with_an_invalid_role_or_name_is_422(secured, body):
    assert_error(secured.post("/api/v1/admin/api-keys", body), 422, "validation_failed")


def test_revoked_key_is_refused(secured):
    created = create_key(secured, "temp", "write")
    assert secured.get("/api/v1/devices", key=created["key"]).status == 200
    status, _, body = secured.delete(f"/api/v1/admin/api-keys/{created['id']}")
    assert status == 204, body
    assert_error(secured.get("/api/v1/devices", key=created["key"]), 401, "unauthorized")
    ids = [k["id"] for k in secured.get("/api/v1/admin/api-keys").json["keys"]]
    assert created["id"] not in ids


def test_revoking_an_unknown_key_is_404(secured):
    assert_error(secured.delete("/api/v1/admin/api-keys/no-such-key"), 404, "not_found")


def test_created_keys_survive_a_restart(secured):
    created = create_key(secured, "durable", "read")
    secured.restart()
    assert secured.get("/api/v1/devices", key=created["key"]).status == 200
    assert secured.get("/api/v1/devices", key=ADMIN_KEY).status == 200


def test_revoked_key_stays_revoked_after_a_restart(secured):
    created = create_key(secured, "short", "write")
    assert secured.delete(f"/api/v1/admin/api-keys/{created['id']}").status == 204
    secured.restart()
    assert_error(secured.get("/api/v1/devices", key=created["key"]), 401, "unauthorized")


def test_admin_created_key_can_manage_keys(secured):
    admin = create_key(secured, "second-admin", "admin")
    resp = secured.post("/api/v1/admin/api-keys", {"name": "x", "role": "read"},
                        key=admin["key"])
    assert resp.status == 201, resp


# -- roles -------------------------------------------------------------------------------------

def test_read_role_may_read_everything(secured):
    secured.create_device("r1")
    key = create_key(secured, "reader", "read")["key"]
    for path in ("/api/v1/devices", "/api/v1/devices/r1", "/api/v1/devices/r1/status-history",
                 "/api/v1/stats", "/api/v1/health/detailed", "/metrics"):
        assert secured.get(path, key=key).status == 200, path


def test_read_role_may_not_write(secured):
    secured.create_device("r1")
    key = create_key(secured, "reader", "read")["key"]
    assert_error(secured.post("/api/v1/heartbeat", {"device_id": "r1"}, key=key), 403, "forbidden")
    assert_error(secured.post("/api/v1/devices/r1/heartbeat", key=key), 403, "forbidden")
    assert_error(secured.post("/api/v1/devices", {"device_id": "r2"}, key=key), 403, "forbidden")
    assert_error(secured.patch("/api/v1/devices/r1", {"name": "n"}, key=key), 403, "forbidden")
    assert_error(secured.put("/api/v1/devices/r1", {"name": "n"}, key=key), 403, "forbidden")
    assert_error(secured.delete("/api/v1/devices/r1", key=key), 403, "forbidden")
    assert secured.device("r1")["status"] == "unknown"
    assert secured.get("/api/v1/devices/r2").status == 404


def test_read_role_may_not_use_admin_endpoints(secured):
    key = create_key(secured, "reader", "read")["key"]
    assert_error(secured.get("/api/v1/admin/api-keys", key=key), 403, "forbidden")
    assert_error(secured.post("/api/v1/admin/api-keys", {"name": "x", "role": "admin"}, key=key),
                 403, "forbidden")
    assert_error(secured.post("/api/v1/admin/delete-all?confirm=yes", key=key), 403, "forbidden")


def test_write_role_may_read_ingest_and_manage_devices(secured):
    key = create_key(secured, "writer", "write")["key"]
    assert secured.post("/api/v1/heartbeat", {"device_id": "w1", "battery_level": 50},
                        key=key).status == 200
    assert secured.post("/api/v1/devices/w1/heartbeat", key=key).status == 200
    assert secured.post("/api/v1/devices", {"device_id": "w2"}, key=key).status == 201
    assert secured.patch("/api/v1/devices/w2", {"name": "two"}, key=key).status == 200
    assert secured.put("/api/v1/devices/w2", {"name": "deux"}, key=key).status == 200
    assert secured.get("/api/v1/devices/w2", key=key).json["name"] == "deux"
    assert secured.delete("/api/v1/devices/w2", key=key).status == 204
    assert secured.get("/api/v1/devices", key=key).status == 200
    assert secured.get("/metrics", key=key).status == 200


def test_write_role_may_not_use_admin_endpoints(secured):
    key = create_key(secured, "writer", "write")["key"]
    assert_error(secured.get("/api/v1/admin/api-keys", key=key), 403, "forbidden")
    assert_error(secured.post("/api/v1/admin/api-keys", {"name": "x", "role": "admin"}, key=key),
                 403, "forbidden")
    other_admin = create_key(secured, "other-admin", "admin")
    assert_error(secured.delete(f"/api/v1/admin/api-keys/{other_admin['id']}", key=key), 403,
                 "forbidden")
    assert secured.get("/api/v1/devices", key=other_admin["key"]).status == 200
    assert_error(secured.post("/api/v1/admin/delete-all?confirm=yes", key=key), 403, "forbidden")


# -- delete-all --------------------------------------------------------------------------------

def test_delete_all_without_confirmation_is_400_and_keeps_data(secured):
    secured.create_device("keep-me")
    assert_error(secured.post("/api/v1/admin/delete-all"), 400)
    assert_error(secured.post("/api/v1/admin/delete-all?confirm=no"), 400)
    assert secured.device_ids() == ["keep-me"]


def test_delete_all_with_confirmation_wipes_every_device(secured):
    secured.create_device("a")
    secured.heartbeat("b", battery_level=50)
    resp = secured.post("/api/v1/admin/delete-all?confirm=yes")
    assert resp.status in (200, 204), resp
    assert secured.device_ids() == []
    assert secured.get("/api/v1/devices/b").status == 404
    assert secured.get("/api/v1/stats").json["devices"]["total"] == 0
    secured.create_device("b")
    assert secured.status_history("b") == []


def test_delete_all_keeps_the_api_keys(secured):
    created = create_key(secured, "survivor", "read")
    assert secured.post("/api/v1/admin/delete-all?confirm=yes").status in (200, 204)
    assert secured.get("/api/v1/devices", key=created["key"]).status == 200


def test_wiped_registry_stays_empty_after_restart(secured):
    secured.create_device("a")
    assert secured.post("/api/v1/admin/delete-all?confirm=yes").status in (200, 204)
    secured.restart()
    assert secured.device_ids() == []


# -- protected mode ----------------------------------------------------------------------------

def test_binding_a_public_address_without_keys_refuses_to_start(start_server):
    server = start_server.create(bind_host="0.0.0.0")
    started = time.monotonic()
    with pytest.raises(AssertionError, match="before becoming ready"):
        server.start()
    assert time.monotonic() - started < 10
    assert server.returncode not in (None, 0)
    assert "auth" in server.log().lower(), server.log()


def test_binding_a_public_address_with_auth_off_starts(start_server):
    server = start_server("--auth", "off", bind_host="0.0.0.0")
    assert server.get("/api/v1/devices", key=None).status == 200


def test_binding_a_public_address_with_an_admin_key_starts_with_auth_on(start_server):
    server = start_server(admin_key=ADMIN_KEY, bind_host="0.0.0.0")
    assert_error(server.get("/api/v1/devices", key=None), 401, "unauthorized")
    assert server.get("/api/v1/devices").status == 200


# -- keys in the query string (?api_key=) ------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/admin/api-keys"), ("GET", "/api/v1/admin/api-keys"),
    ("GET", "/api/v1/devices"), ("POST", "/api/v1/heartbeat"), ("GET", "/metrics"),
    ("POST", "/api/v1/admin/delete-all?confirm=yes")])
def test_a_key_in_the_query_string_is_refused_outside_the_stream_and_export(secured, method,
                                                                            path):
    secured.create_device("keep-me")
    sep = "&" if "?" in path else "?"
    body = {"name": "leaked", "role": "admin"} if path.endswith("api-keys") else (
        {"device_id": "d1"} if method == "POST" else None)
    resp = secured.request(method, f"{path}{sep}api_key={ADMIN_KEY}", body, key=None)
    assert_error(resp, 401, "unauthorized")
    assert "query string" in resp.json["error"]["message"]
    assert secured.get("/api/v1/devices/keep-me").status == 200  # nothing was wiped
    names = [k["name"] for k in secured.get("/api/v1/admin/api-keys").json["keys"]]
    assert "leaked" not in names


def test_a_key_in_the_query_string_reads_the_export_with_the_read_role_only(secured):
    secured.create_device("exp-1")
    assert secured.post("/api/v1/telemetry", {"device_id": "exp-1", "temperature": 20.5}).status == 200
    resp = secured.get(f"/api/v1/export?device_id=exp-1&start=-1h&format=ndjson&api_key={ADMIN_KEY}",
                       key=None)
    assert resp.status == 200, resp
    assert b"20.5" in resp.raw
    # The same key as a header still has its full role.
    assert secured.post("/api/v1/admin/api-keys", {"name": "ok", "role": "read"}).status == 201
