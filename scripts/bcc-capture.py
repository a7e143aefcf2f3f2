#!/usr/bin/python3
"""Record what one of bcc's Python tools would compile and attach, without
loading anything: the tool runs with bcc.BPF replaced by a recorder, and the
recorder prints one JSON object and exits the first time the tool reads a
table, polls or sleeps (by then it has compiled and attached everything;
writes to a table before that, such as funccount's zeroing of its counts
before it attaches, are let through).

    bcc-capture.py OUT.json /usr/sbin/syscount-bpfcc -L -d 1

OUT.json gets {"text": C source, "cflags": [...], "attach": ["KIND:TARGET=FN", ...]}
where each attach entry is in evtrace run's --attach syntax. --ebpf is not
enough for this: it omits cflags (-DMAX_PID and the like) and some tools
print text that differs from what they compile.
"""
import json
import os
import runpy
import sys
import time

import bcc


def _s(v):
    if isinstance(v, bytes):
        return v.decode()
    return "" if v is None else str(v)


_OUT = None


def _uprobe_target(name, sym, addr, sym_off):
    """TARGET:SYMBOL[+OFFSET] or TARGET:0xADDR, as evtrace run's --attach
    takes them."""
    if not _s(sym) and addr is not None:
        return "%s:0x%x" % (_s(name), addr)
    where = _s(sym)
    if sym_off:
        where += "+%d" % sym_off
    return "%s:%s" % (_s(name), where)


class _Done(BaseException):
    pass


class _Table(object):
    """What the recorder's get_table returns. Some tools write to a table
    before they attach (funccount zeroes its counts with
    counts[counts.Key(i)] = counts.Leaf()), so its Key and Leaf types and
    item writes are accepted; anything else a tool does with a table is
    reading it, after everything is attached: the recording ends there."""

    def __init__(self, rec):
        self._rec = rec

    def Key(self, *args):
        return None

    Leaf = Key

    def __setitem__(self, key, leaf):
        pass

    def __getattr__(self, name):
        self._rec._finish()

    def __getitem__(self, key):
        self._rec._finish()

    def __iter__(self):
        self._rec._finish()

    def __len__(self):
        self._rec._finish()


class Recorder(bcc.BPF):
    """Stands in for bcc.BPF: keeps the text, cflags and attach calls."""

    def __init__(self, src_file=b"", hdr_file=b"", text=None, debug=0,
                 cflags=[], usdt_contexts=[], allow_rlimit=True, device=None,
                 attach_usdt_ignore_pid=False):
        if text is None:
            with open(_s(src_file)) as f:
                text = f.read()
        self._rec = {"text": _s(text), "cflags": [_s(c) for c in cflags],
                     "attach": [], "usdt": len(usdt_contexts)}

    def _add(self, kind, target, fn):
        self._rec["attach"].append("%s:%s=%s" % (kind, _s(target), _s(fn)))

    def attach_kprobe(self, event=b"", event_off=0, fn_name=b"", event_re=b""):
        self._add("kprobe", _s(event) or "re:" + _s(event_re), fn_name)

    def attach_kretprobe(self, event=b"", fn_name=b"", event_re=b"", maxactive=0):
        self._add("kretprobe", _s(event) or "re:" + _s(event_re), fn_name)

    def attach_tracepoint(self, tp=b"", tp_re=b"", fn_name=b""):
        self._add("tracepoint", _s(tp) or "re:" + _s(tp_re), fn_name)

    def attach_raw_tracepoint(self, tp=b"", fn_name=b""):
        self._add("raw_tracepoint", tp, fn_name)

    def attach_kfunc(self, fn_name=b""):
        self._add("fentry", "", fn_name)

    def attach_kretfunc(self, fn_name=b""):
        self._add("fexit", "", fn_name)

    def attach_uprobe(self, name=b"", sym=b"", sym_re=b"", addr=None,
                      fn_name=b"", pid=-1, sym_off=0):
        # As bcc does, fail when the symbol cannot be found (threadsnoop
        # tries libpthread, then libc).
        bcc.BPF._check_path_symbol(name, sym, addr, pid, sym_off)
        self._add("uprobe", _uprobe_target(name, sym, addr, sym_off), fn_name)

    def attach_uretprobe(self, name=b"", sym=b"", sym_re=b"", addr=None,
                         fn_name=b"", pid=-1):
        bcc.BPF._check_path_symbol(name, sym, addr, pid)
        self._add("uretprobe", _uprobe_target(name, sym, addr, 0), fn_name)

    def attach_perf_event(self, ev_type=-1, ev_config=-1, fn_name=b"",
                          sample_period=0, sample_freq=0, pid=-1, cpu=-1,
                          group_fd=-1):
        how = "freq=%d" % sample_freq if sample_freq else "period=%d" % sample_period
        self._add("perf", "%d:%d:%s" % (ev_type, ev_config, how), fn_name)

    def load_func(self, func_name, prog_type, device=None, attach_type=-1):
        return None

    def _finish(self, *args, **kwargs):
        with open(_OUT, "w") as f:
            json.dump(self._rec, f)
        raise _Done()

    def get_table(self, name, *args, **kwargs):
        return _Table(self)

    __getitem__ = get_table
    perf_buffer_poll = ring_buffer_poll = _finish
    trace_print = trace_fields = trace_readline = kprobe_poll = _finish

    def cleanup(self):
        pass

    def __del__(self):
        pass


def main():
    global _OUT
    if len(sys.argv) < 3:
        sys.exit("usage: bcc-capture.py OUT.json TOOL [ARGS...]")
    _OUT = sys.argv[1]
    del sys.argv[1]
    bcc.BPF = Recorder
    holder = []
    real_init = Recorder.__init__

    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        holder.append(self)
    Recorder.__init__ = init
    time.sleep = lambda s: holder[-1]._finish() if holder else None
    sys.argv = sys.argv[1:]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except _Done:
        sys.stdout.flush()
        os._exit(0)
    if holder:
        holder[-1]._finish()
    sys.exit("bcc-capture.py: the tool ended without compiling a program")


if __name__ == "__main__":
    try:
        main()
    except _Done:
        sys.stdout.flush()
        os._exit(0)
