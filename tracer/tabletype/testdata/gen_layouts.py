#!/usr/bin/python3
"""Regenerate layouts.json: what libbcc records for map key/leaf types, and
where the compiler really puts every member.

For each case below, one BPF_HASH/BPF_ARRAY is declared; libbcc (through
Debian's bcc 0.26 Python) compiles them all and gives each table's key and
leaf descriptor and size. The same type definitions are then compiled for
the host by clang (the front end libbcc itself uses, same target ABI) into
a program that prints sizeof and every member's bit offset (offsetof, or
for bit-fields the first bit a store of all ones sets). bcc's ctypes view
(size, or the error it raises) is kept too, for comparison only: ctypes
lays out bit-fields and __int128 differently from clang.

Run as root (libbcc creates the maps), serialized with the other helpers:
    BCC_KERNEL_SOURCE=<headers tree> flock /tmp/evtrace-bpf.lock \
        /usr/bin/python3 gen_layouts.py > layouts.json
BCC_KERNEL_SOURCE is only needed when the running kernel has no headers.
"""
import ctypes as ct
import json
import os
import subprocess
import sys
import tempfile

from bcc import BPF
from bcc.libbcc import lib

lib.bpf_table_key_size.restype = ct.c_size_t
lib.bpf_table_key_size.argtypes = [ct.c_void_p, ct.c_char_p]
lib.bpf_table_leaf_size.restype = ct.c_size_t
lib.bpf_table_leaf_size.argtypes = [ct.c_void_p, ct.c_char_p]

DEFS = r'''
struct k1 { u32 pid; char comm[16]; u64 ts; };
struct ints { char c; signed char sc; unsigned char uc; short s; unsigned short us;
  int i; unsigned int ui; long l; unsigned long ul; long long ll;
  unsigned long long ull; _Bool b; };
struct bf { unsigned int a:3, b:5; unsigned char c; unsigned long long d:40; };
struct bfs { int a:4; int b:12; short c:3; long long d:33; unsigned char e:1; };
struct strad { u8 a:7; u8 b:3; u16 c:12; u32 d:20; u64 e:50; };
struct bb { _Bool a:1; _Bool b:1; u8 c; };
union u1 { int x; char s[6]; };
struct withu { char c; union { int x; short y; }; struct { char q; long z; } in; };
enum color { RED, GREEN = 5 };
typedef struct { signed char sc; _Bool flag; enum color col; void *p; __int128 big;
  unsigned __int128 ubig; } td_t;
struct pk { char c; long x; } __attribute__((packed));
struct outer { struct k1 a; struct { u16 x; u8 y; } b[3]; u8 tail; };
struct arrs { u32 vals[5]; u16 pair[2]; char name[7]; };
struct flex { u64 a; u32 b; char d[]; };
union ub { u32 a:3; u8 b; };
struct bfn { u32 f:3; struct { u64 x; } s; };
struct bfp { u32 f:3; struct pk p; };
struct bftail { u32 f:3; u16 g; };
struct arr2 { char a[4][3]; int b; };
typedef char name_t[16];
typedef struct disk_key { char disk[32]; u64 slot; } disk_key_t;
struct pid_key { u32 pid; u64 slot; };
struct fl { float f; double d; char c; long double x; };
struct ubf { u32 a:3; u32 :5; u32 b:4; };
struct zbf { u32 a:3; u32 :0; u32 b:4; };
union uamb { struct { u64 x; } s; char c[9]; };
struct au { union { int i; char c; } u[2]; char z; };
union anon2 { struct { u32 a; u32 b; }; u64 ab; };
struct val2 { u32 a; u64 b; };
'''

# name, key C type, leaf C type (None: the map's default)
CASES = [
    ("k1", "struct k1", "u64"),
    ("ints", "u32", "struct ints"),
    ("bf", "struct bf", "union u1"),
    ("bfs", "struct bfs", "struct strad"),
    ("bb", "struct bb", "u64"),
    ("withu", "struct withu", "td_t"),
    ("pk", "u32", "struct pk"),
    ("outer", "struct outer", "struct arrs"),
    ("flex", "u32", "struct flex"),
    ("ub", "union ub", "struct bfn"),
    ("bfp", "struct bfp", "struct bftail"),
    ("arr2", "struct arr2", "name_t"),
    ("disk", "disk_key_t", "u64"),
    ("pidkey", "struct pid_key", "u64"),
    ("fl", "u32", "struct fl"),
    ("ubf", "struct ubf", "u64"),
    ("zbf", "struct zbf", "u64"),
    ("uamb", "union uamb", "struct au"),
    ("anon2", "union anon2", "struct val2"),
    ("enumkey", "enum color", "s64"),
    ("scalars", "u8", "s16"),
]


def members(desc, prefix, inarray=False):
    """Member designators (C syntax) of a record descriptor, pads left
    out, anonymous records flattened as C flattens them, nothing inside
    arrays. Yields (designator, is_bitfield)."""
    if isinstance(desc, str) or inarray:
        return
    for f in desc[1]:
        if len(f) == 3 and isinstance(f[2], str):      # anonymous record
            yield from members(f, prefix)
            continue
        name = f[0]
        if name.startswith("__pad_") or name == "":
            continue
        path = prefix + name
        bitfield = len(f) == 3 and isinstance(f[2], int)
        yield path, bitfield
        if len(f) == 2 and isinstance(f[1], list):
            yield from members(f[1], path + ".")


def clang_layouts(cases):
    """sizeof and member bit offsets as the host's clang lays them out."""
    prog = ["#include <stdio.h>", "#include <string.h>", "#include <stddef.h>",
            "typedef unsigned char u8; typedef unsigned short u16;",
            "typedef unsigned int u32; typedef unsigned long long u64;",
            "typedef short s16; typedef long long s64;", DEFS,
            "static int firstbit(const unsigned char *p, size_t n) {",
            "  for (size_t i = 0; i < n * 8; i++) if (p[i / 8] >> (i % 8) & 1) return i;",
            "  return -1; }",
            "int main(void) {"]
    for c in cases:
        for role in ("key", "leaf"):
            ctype = c[role + "_ctype"]
            prog.append('printf("%s %s size %%zu\\n", sizeof(%s));' % (c["name"], role, ctype))
            for path, bitfield in c[role + "_members"]:
                if bitfield:
                    prog.append('{ union { %s s; unsigned char b[sizeof(%s)]; } u; '
                                'memset(&u, 0, sizeof u); u.s.%s = -1; '
                                'printf("%s %s member %s %%d\\n", firstbit(u.b, sizeof u)); }'
                                % (ctype, ctype, path, c["name"], role, path))
                else:
                    prog.append('printf("%s %s member %s %%zu\\n", 8 * offsetof(%s, %s));'
                                % (c["name"], role, path, ctype, path))
    prog.append("return 0; }")
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "l.c"), os.path.join(d, "l")
        with open(src, "w") as f:
            f.write("\n".join(prog))
        subprocess.run(["clang", "-w", "-o", exe, src], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, role, what, rest = line.split(" ", 3)
        c = next(c for c in cases if c["name"] == name)
        ref = c.setdefault(role, {}).setdefault("clang", {"members": {}})
        if what == "size":
            ref["size"] = int(rest)
        else:
            path, bit = rest.rsplit(" ", 1)
            ref["members"][path] = int(bit)


def ctypes_view(table, attr):
    try:
        cls = getattr(table, attr)
        return {"size": ct.sizeof(cls)}
    except Exception as e:  # bcc refuses some types (signed char, ...)
        return {"error": repr(e)}


def main():
    text = DEFS + "\n".join("BPF_HASH(%s, %s, %s);" % c for c in CASES)
    b = BPF(text=text)
    cases = []
    for name, key, leaf in CASES:
        n = name.encode()
        c = {"name": name, "key_ctype": key, "leaf_ctype": leaf}
        out = {"name": name}
        for role, ctype, descfn, sizefn in (
                ("key", key, lib.bpf_table_key_desc, lib.bpf_table_key_size),
                ("leaf", leaf, lib.bpf_table_leaf_desc, lib.bpf_table_leaf_size)):
            desc = descfn(b.module, n).decode()
            c[role + "_members"] = list(members(json.loads(desc), ""))
            out[role] = {"ctype": ctype, "desc": desc, "libbcc_size": sizefn(b.module, n)}
        cases.append((c, out))
        try:
            t = b[n]
            out["key"]["ctypes"] = ctypes_view(t, "Key")
            out["leaf"]["ctypes"] = ctypes_view(t, "Leaf")
        except Exception as e:
            out["key"]["ctypes"] = out["leaf"]["ctypes"] = {"error": repr(e)}
    refs = [c for c, _ in cases]
    clang_layouts(refs)
    for c, out in cases:
        for role in ("key", "leaf"):
            out[role]["clang"] = c[role]["clang"]
    json.dump({"bcc": "0.26", "arch": os.uname().machine, "cases": [o for _, o in cases]},
              sys.stdout, indent=1)
    print()


main()
