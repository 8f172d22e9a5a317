#!/usr/bin/python3
"""Device list pages over HTTP: for every sort order, ascending and descending, walks PAGES
pages of LIMIT devices (following next_cursor) and prints the median and worst latency of a
page. Target (issue 16): < 5 ms per page with 100k devices in every sort order.

Usage: bench/query_http_device_pages.py --url http://127.0.0.1:8080 [--pages 20 --limit 100]
(fill the server first, e.g. with bench/idle_devices_bench.py's registration or real data).
"""

import argparse
import http.client
import json
import statistics
import time
import urllib.parse

ORDERS = ["device_id", "name", "type", "location", "status", "last_seen", "battery_level",
          "signal_strength"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--limit", type=int, default=100)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for order in ORDERS:
        for desc in (False, True):
            sort = f"-{order}" if desc else order
            cursor, took = None, []
            for _ in range(a.pages):
                q = {"sort": sort, "limit": a.limit}
                if cursor:
                    q["cursor"] = cursor
                t0 = time.perf_counter()
                c.request("GET", "/api/v1/devices?" + urllib.parse.urlencode(q))
                r = c.getresponse()
                body = r.read()
                took.append((time.perf_counter() - t0) * 1000)
                if r.status != 200:
                    raise SystemExit(f"{sort}: HTTP {r.status} {body[:200]!r}")
                cursor = json.loads(body).get("next_cursor")
                if not cursor:
                    break
            print(f"sort={sort} pages={len(took)} median_ms={statistics.median(took):.2f} "
                  f"max_ms={max(took):.2f}")


if __name__ == "__main__":
    main()
