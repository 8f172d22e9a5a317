

def test_query_takes_create_database_only(auth_server):
    # Telegraf's influxdb output creates its database first, with a form body.
    resp = auth_server.post("/query", raw=b'q=CREATE+DATABASE+%22telegraf%22',
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200 and resp.json == {"results": [{"statement_id": 0}]}, resp
    resp = auth_server.post("/query?q=create%20database%20x")
    assert resp.status == 200, resp
    resp = auth_server.post("/query?q=SELECT%20*%20FROM%20cpu")
    assert resp.status == 400 and "not served" in resp.json["error"], resp
    resp = auth_server.post("/query?q=CREATE%20DATABASE%20x", key=None)
    assert resp.status == 401 and list(resp.json) == ["error"], resp
