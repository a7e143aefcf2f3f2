#!/usr/bin/python3
# The bcc Python side of the map benchmark: BPF(text=...), then at SIGINT
# or SIGTERM, as bcc's tools print a map at exit: items(), sorted by value
# (largest first), one line per entry. Prints READY once attached.
import signal, sys
from bcc import BPF

b = BPF(text=open(sys.argv[1]).read())

def interrupt(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, interrupt)

print("READY", file=sys.stderr, flush=True)
try:
    signal.pause()
except KeyboardInterrupt:
    pass
big = b["big"]
for k, v in sorted(big.items(), key=lambda kv: kv[1].value, reverse=True):
    print(k.pid, k.comm.decode("utf-8", "replace"), v.value)
