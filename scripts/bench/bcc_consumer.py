#!/usr/bin/python3
# The bcc Python consumer evtrace is measured against: BPF(text=...),
# open_perf_buffer + perf_buffer_poll, open_ring_buffer + ring_buffer_poll
# (--ringbuf PAGES), or trace_fields for trace_pipe, each
# event printed, as a bcc tool does. Prints READY once attached; on SIGINT
# or SIGTERM prints "events N lost M" on stderr.
import argparse, signal, sys
from bcc import BPF

p = argparse.ArgumentParser()
p.add_argument("probe")
p.add_argument("--pages", type=int, default=8)
p.add_argument("--printk", action="store_true")
p.add_argument("--ringbuf", type=int, default=0, metavar="PAGES")
p.add_argument("--table", default="bench_events")
a = p.parse_args()

text = open(a.probe).read()
cflags = ["-DBENCH_PRINTK"] if a.printk else []
if a.ringbuf:
    cflags = ["-DBENCH_RINGBUF", "-DRB_PAGES=%d" % a.ringbuf]
b = BPF(text=text, cflags=cflags)
counts = {"events": 0, "lost": 0}

def on_event(cpu, data, size):
    e = b[a.table].event(data)
    counts["events"] += 1
    print(e.pid, e.tid, e.comm.decode())

def on_ring_event(ctx, data, size):
    on_event(0, data, size)

def on_lost(n):
    counts["lost"] += n

# SIGTERM ends the run as SIGINT does: both raise KeyboardInterrupt, which
# also interrupts a blocking trace_fields().
def interrupt(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, interrupt)

if a.ringbuf:
    # A ring buffer reports no drops: the program's output fails.
    b[a.table].open_ring_buffer(on_ring_event)
elif not a.printk:
    b[a.table].open_perf_buffer(on_event, page_cnt=a.pages, lost_cb=on_lost)
print("READY", file=sys.stderr, flush=True)
try:
    while True:
        if a.printk:
            # bcc's trace_fields() loop, as its tools use it. It skips the
            # kernel's "CPU:N [LOST M EVENTS]" lines: losses go uncounted.
            task, pid, cpu, flags, ts, msg = b.trace_fields()
            counts["events"] += 1
            print(pid, msg)
        elif a.ringbuf:
            b.ring_buffer_poll()
        else:
            b.perf_buffer_poll()
except KeyboardInterrupt:
    pass
print("events %d lost %d" % (counts["events"], counts["lost"]), file=sys.stderr, flush=True)
