#!/usr/bin/python3
"""Regenerate hist_golden.json: histograms printed by bcc's own table.py.

Run from this directory with the Python that has bcc (Debian: bcc 0.26):
    /usr/bin/python3 gen_hist_golden.py > hist_golden.json
Nothing is compiled or loaded: only table.py's printing functions run, on
fixed inputs, and their stdout is recorded with the inputs.
"""
import base64
import ctypes as ct
import io
import json
import random
import sys
from contextlib import redirect_stdout

from bcc import table


def capture(fn, *args, **kwargs):
    out = io.StringIO()
    with redirect_stdout(out):
        fn(*args, **kwargs)
    return out.getvalue()


def padded(counts, n):
    return counts + [0] * (n - len(counts))


class FakeHash(table.HashTable):
    """A HashTable whose items() are given, so bcc's section code runs."""

    def __init__(self, key_class, items):
        self.Key = key_class
        self._items = items

    def items(self):
        return self._items


cases = []


def plain(name, kind, counts, val_type="value", strip=None):
    size = table.log2_index_max if kind == "log2" else table.linear_index_max
    fn = table._print_log2_hist if kind == "log2" else table._print_linear_hist
    out = capture(fn, padded(counts, size), val_type, strip)
    cases.append({"name": name, "kind": kind, "valType": val_type,
                  "strip": bool(strip), "counts": counts, "want": out})


def sectioned(name, kind, member, ctype, entries, val_type="value", strip=None):
    """entries: list of (section value, slot, count) in map order."""
    key_class = type("key_t", (ct.Structure,),
                     {"_fields_": [(member, ctype), ("slot", ct.c_ulonglong)]})
    items = []
    for section, slot, count in entries:
        k = key_class()
        setattr(k, member, section)
        k.slot = slot
        items.append((k, ct.c_ulonglong(count)))
    t = FakeHash(key_class, items)
    fn = t.print_log2_hist if kind == "log2" else t.print_linear_hist
    out = capture(fn, val_type, member, strip_leading_zero=strip)
    # The sections as Go gets them: in first-appearance order, the value
    # raw (bytes in base64, or an integer), the counts by slot.
    order, counts = [], {}
    for section, slot, count in entries:
        if section not in counts:
            order.append(section)
            counts[section] = []
        c = counts[section]
        c.extend([0] * (slot + 1 - len(c)))
        c[slot] = count
    secs = []
    for s in order:
        sec = {"header": member, "counts": counts[s]}
        if isinstance(s, bytes):
            sec["bytes"] = base64.b64encode(s).decode()
        else:
            sec["int"] = s
        secs.append(sec)
    cases.append({"name": name, "kind": kind, "valType": val_type,
                  "strip": bool(strip), "sections": secs, "want": out})


plain("log2 empty", "log2", [])
plain("log2 slot 0 only", "log2", [7])
plain("log2 single slot 1", "log2", [0, 3], "usecs")
plain("log2 single slot 10", "log2", padded([], 10) + [1], "usecs")
plain("log2 gaps", "log2", [0, 5, 0, 0, 12, 1, 0, 0, 0, 30], "nsecs")
plain("log2 slot 0 and others", "log2", [100, 0, 4, 8])
plain("log2 strip leading zero", "log2", [0, 0, 0, 0, 9, 0, 3], "kbytes", True)
plain("log2 strip slot 0 set", "log2", [5, 0, 0, 2, 4], "value", True)
plain("log2 slot 32 narrow", "log2", padded([], 32) + [6, ], "usecs")
plain("log2 slot 33 wide", "log2", padded([], 5) + [2] + padded([], 27) + [1], "usecs")
plain("log2 slot 64 wide strip", "log2", padded([], 60) + [1, 0, 0, 0, 2], "value", True)
plain("log2 huge counts", "log2",
      [0, 2**64 - 1, 2**63, 2**53 + 1, 2**53, 2**32, 12345678901234, 1, 0, 2**64 - 2])
plain("log2 near ties", "log2", [0, 3, 1, 2, 7, 39, 41, 81, 80, 79, 121, 160])
plain("log2 long label", "log2", [0, 1, 2], "a label longer than nineteen")
plain("log2 wide long label", "log2", padded([], 40) + [1], "label longer than twenty-nine chars")
plain("linear empty", "linear", [])
plain("linear slot 0 only", "linear", [4], "percent")
plain("linear gaps", "linear", [0, 0, 3, 0, 10, 0, 0, 1], "value")
plain("linear strip", "linear", [0, 0, 0, 2, 0, 5], "usecs", True)
plain("linear huge", "linear", [2**64 - 1, 1, 2**40, 0, 99999999999], "value")
plain("linear wide index", "linear", padded([], 1000) + [1, 2], "msecs")

rng = random.Random(14)
for n in range(6):
    counts = [rng.choice([0, 0, 1, rng.randrange(1, 100), rng.randrange(1, 2**20),
                          rng.randrange(1, 2**64)]) for _ in range(rng.randrange(1, 40))]
    plain("log2 random %d" % n, "log2", counts, "usecs", n % 2 == 1)
    plain("linear random %d" % n, "linear", counts, "value", n % 3 == 1)

sectioned("log2 disk sections", "log2", "disk", ct.c_char * 32,
          [(b"sda", 3, 10), (b"nvme0n1", 1, 2), (b"sda", 5, 40), (b"nvme0n1", 9, 1)], "usecs")
sectioned("log2 quoted sections", "log2", "disk", ct.c_char * 16,
          [(b"it's", 2, 1), (b'a"b', 2, 1), (b"both'\"", 2, 1), (b"ctl\x01\x7f\xff\\\t\n\r", 3, 2),
           (b"", 4, 1)], "value")
sectioned("log2 pid sections strip", "log2", "pid", ct.c_ulonglong,
          [(42, 7, 3), (7, 2, 1), (42, 9, 1), (7, 3, 5)], "usecs", True)
sectioned("linear pid sections", "linear", "pid", ct.c_ulonglong,
          [(1, 0, 3), (2, 4, 1), (1, 3, 1)], "value")
sectioned("log2 empty section", "log2", "disk", ct.c_char * 8,
          [(b"sdb", 0, 5), (b"sdc", 2, 5)], "usecs")

json.dump({"bcc": sys.modules["bcc"].__version__ if hasattr(sys.modules["bcc"], "__version__") else "",
           "cases": cases}, sys.stdout, indent=1)
print()
