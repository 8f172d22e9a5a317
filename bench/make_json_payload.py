#!/usr/bin/env python3
"""Converts the peer benchmark's line-protocol payload into JSON batches of the same readings,
one file per LP file: [{"device_id":"truck_0","ts":<ms>,"latitude":...,...}, ...] (the flat
reading form of API.md). The files keep the .lp suffix because the shared sender only picks
up *.lp files; their content is JSON. Usage: make_json_payload.py LP_DIR OUT_DIR"""
import json
import os
import sys


def convert(lp_path: str, out_path: str) -> None:
    items = []
    with open(lp_path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            series, fields, ts = line.split(" ")
            tags = dict(t.split("=", 1) for t in series.split(",")[1:])
            item = {"device_id": tags["name"], "ts": int(ts) // 1_000_000}
            for kv in fields.split(","):
                k, v = kv.split("=", 1)
                item[k] = float(v)
            items.append(item)
    # One reading per line, so the sender's line count (x --fields 7) counts the values.
    with open(out_path, "w") as f:
        f.write("[" + ",\n".join(json.dumps(i, separators=(",", ":")) for i in items) + "]\n")


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if name.endswith(".lp"):
            out = os.path.join(dst, name)
            if not os.path.exists(out):
                convert(os.path.join(src, name), out)


if __name__ == "__main__":
    main()
