#!/usr/bin/python3
"""Summarises `perf report --no-children -g none --sort pid,sym --stdio` output (read on stdin)
per thread: each thread's share of all samples and its top symbols, with the long STL names
shortened to what they are in fleetpulse (which hash map, which tree). Usage:
  perf report -i perf.data --no-children -g none --sort pid,sym --stdio | bench/perf_by_thread.py [TOP]
"""
import re
import sys
from collections import defaultdict

top = int(sys.argv[1]) if len(sys.argv) > 1 else 8


def short(sym):
    if "SeriesIndex::Hash" in sym:
        return "SeriesIndex device hash map"
    if sym.startswith("std::_Rb_tree") and "unsigned int" in sym:
        return "SeriesIndex metric std::map"
    if sym.startswith("std::_Hashtable"):
        s = sym.replace("std::__cxx11::basic_string<char, std::char_traits<char>, "
                        "std::allocator<char> >", "string")
        m = re.search(r"std::pair<(.{0,80}?) const, (.{0,60})", s)
        return "std hash map <" + (m.group(1) + " -> " + m.group(2) if m else s[16:60]) + ">"
    if sym.startswith("std::_Rb_tree"):
        return "std::map/set"
    return sym[:90]


threads = defaultdict(lambda: defaultdict(float))
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+(\d+):(\S+)\s+\[.\]\s+(.*)$", line)
    if not m:
        continue
    pct, tid, sym = float(m.group(1)), m.group(2), short(m.group(4).strip())
    threads[tid][sym] += pct
rows = sorted(threads.items(), key=lambda kv: -sum(kv[1].values()))
for tid, syms in rows:
    total = sum(syms.values())
    if total < 1:
        continue
    print(f"thread {tid}: {total:.1f} % of samples")
    for sym, pct in sorted(syms.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {pct:5.1f} %  {sym}")
