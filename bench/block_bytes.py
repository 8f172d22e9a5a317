#!/usr/bin/env python3
"""What each byte of a store's block files pays for (docs/formats/block.md, version 2).

Walks every `*.blk` of a blocks directory frame by frame and splits its bytes into: header,
footer and index; group-frame overhead (magic, length, checksum, kind, counts); the series
descriptions (stored, i.e. zstd-compressed when that paid) and, within their raw form, each
field (key, min_ts, span, last_value, count, lengths, crc); the payloads (stored), and within
the uncompressed raw-point payloads the chunk header (version byte, count, first timestamp,
timestamp-stream length, exponent, first mantissa) versus the coded points. zstd frames are
inflated with the `zstd` command. Also prints what the descriptions would take, compressed per
group the same way, without `last_value` and with `min_ts` as a varint offset from the
partition start (an estimate for a smaller format).

Usage: bench/block_bytes.py DATA_DIR/tsdb/blocks
"""
import collections
import glob
import os
import struct
import subprocess
import sys


def uvarint(b, p):
    v = s = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, p


def put_uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def unzstd(data, raw_len):
    out = subprocess.run(["zstd", "-d", "-c", "-q"], input=data, capture_output=True, check=True)
    assert len(out.stdout) == raw_len
    return out.stdout


def zstd1(data):
    out = subprocess.run(["zstd", "-1", "-c", "-q"], input=data, capture_output=True, check=True)
    return min(len(out.stdout), len(data))  # the writer stores plain when zstd does not pay


def main():
    d = sys.argv[1]
    tot = collections.Counter()
    for path in sorted(glob.glob(os.path.join(d, "*.blk"))):
        b = open(path, "rb").read()
        tot["files"] += 1
        tot["file bytes"] += len(b)
        version = struct.unpack_from("<H", b, 8)[0]
        if version != 2:
            print(f"{path}: version {version}, skipped", file=sys.stderr)
            continue
        resolution = b[10]
        part_start = struct.unpack_from("<q", b, 32)[0]
        index_offset = struct.unpack_from("<Q", b, len(b) - 64)[0]
        tot["header+footer+index+end"] += 56 + (len(b) - index_offset)
        pos = 56
        while pos < index_offset:
            assert b[pos:pos + 4] == b"FPSF", (path, pos)
            blen, p = uvarint(b, pos + 4)
            body = b[p:p + blen]
            end = p + blen + 4
            kind = body[0]
            if kind == 2:
                tot["header+footer+index+end"] += end - pos
                pos = end
                continue
            n, q = uvarint(body, 1)
            raw_len, q = uvarint(body, q)
            rest = body[q:]
            tot["group frame overhead"] += (end - pos) - len(rest)
            tot["descriptions stored"] += len(rest)
            desc = unzstd(rest, raw_len) if raw_len else rest
            tot["descriptions raw"] += len(desc)
            s = 0
            payload_at = end
            slim = bytearray()
            for _ in range(n):
                k0 = s
                dl, s = uvarint(desc, s)
                s += dl
                ml, s = uvarint(desc, s)
                s += ml
                tot["raw: key"] += s - k0
                internal = b"~" in desc[k0:s]
                slim += desc[k0:s]
                min_ts = struct.unpack_from("<q", desc, s)[0]
                s += 8
                tot["raw: min_ts (8)"] += 8
                off = min_ts - part_start
                slim += put_uvarint(off if off >= 0 else 0)
                s0 = s
                _, s = uvarint(desc, s)
                tot["raw: span"] += s - s0
                slim += desc[s0:s]
                s += 8
                tot["raw: last_value (8)"] += 8
                s0 = s
                count, s = uvarint(desc, s)
                stored, s = uvarint(desc, s)
                praw, s = uvarint(desc, s)
                tot["raw: count+lengths"] += s - s0
                slim += desc[s0:s]
                s += 4
                tot["raw: crc (4)"] += 4
                slim += desc[s - 4:s]
                tot["series"] += 1
                tot["points" if resolution == 0 else "buckets"] += count
                if resolution == 0 and internal:
                    tot["points of ~ (internal: KPI, status) series"] += count
                payload = b[payload_at:payload_at + stored]
                payload_at += stored
                key = "payload raw-points" if resolution == 0 else "payload rollups"
                tot[key] += stored
                if praw:
                    tot[key + " zstd'd"] += stored
                elif resolution == 0 and len(payload) > 2:
                    # chunk header: version|encoding, count, first_ts, ts_len, [exp, first_m]
                    h = 1
                    _, h = uvarint(payload, h)
                    if count > 0:
                        _, h = uvarint(payload, h)
                        tl, h = uvarint(payload, h)
                        ts_end = h + tl
                        tot["chunk: ts stream"] += tl
                        if payload[0] & 0x0F == 1:
                            h2 = ts_end + 1
                            _, h2 = uvarint(payload, h2)
                            tot["chunk: header (decimal: + exp, first mantissa)"] += (h2 - ts_end) + h - tl
                            tot["chunk: value stream"] += len(payload) - h2
                        else:
                            tot["chunk: header (xor)"] += h - tl
                            tot["chunk: value stream"] += len(payload) - ts_end
            assert s == len(desc)
            tot["descriptions, est. slim (no last_value, min_ts offset) stored"] += zstd1(bytes(slim))
            pos = payload_at
    values = tot["points"] or 1
    width = max(len(k) for k in tot)
    for k, v in tot.items():
        per = f"{v / values:8.3f} B/point" if k not in ("files", "series", "points", "buckets") else ""
        print(f"{k:<{width}} {v:>14,} {per}")
    print(f"{'points per series-in-a-block':<{width}} {tot['points'] / max(1, tot['series']):14.1f}")


if __name__ == "__main__":
    main()
