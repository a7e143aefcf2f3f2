# A process that opens, closes and shuts down listening sockets on command
# (one command a line on stdin, one reply a line on stdout), for the
# listeners integration test. It runs in whatever network namespace it is
# started in (ip netns exec).
import ctypes, os, signal, socket, sys, time

libc = ctypes.CDLL(None)
PR_SET_PDEATHSIG = 1
libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
socks = {}
for line in sys.stdin:
    a = line.split()
    if not a:
        continue
    c = a[0]
    if c == "listen":  # listen ID 4|6 ADDR|- PORT BACKLOG [reuseport]
        sid, fam, addr, port, backlog = a[1], a[2], a[3], int(a[4]), int(a[5])
        s = socket.socket(socket.AF_INET6 if fam == "6" else socket.AF_INET)
        if len(a) > 6:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if addr != "-":
            s.bind((addr, port))
        s.listen(backlog)
        socks[sid] = s
        print("ok", os.fstat(s.fileno()).st_ino, s.getsockname()[1], flush=True)
    elif c == "close":
        socks.pop(a[1]).close()
        print("ok", flush=True)
    elif c == "shutdown":
        socks[a[1]].shutdown(socket.SHUT_RD)
        print("ok", flush=True)
    elif c == "churn":  # churn N: N listen()+close() pairs, as fast as it can
        for _ in range(int(a[1])):
            s = socket.socket()
            s.listen(1)
            s.close()
        print("ok", flush=True)
    elif c == "fork":  # a child that holds every socket until killed
        pid = os.fork()
        if pid == 0:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            while True:
                time.sleep(3600)
        print("ok", pid, flush=True)
