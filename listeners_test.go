package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/evtrace/evtrace/tracer/testenv"
)

// listenOn opens a TCP listener on 127.0.0.1:port (0: any) and returns
// its descriptor, port and inode.
func listenOn(t *testing.T, port int) (fd, bound int, ino uint64) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 11); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	return fd, sa.(*unix.SockaddrInet4).Port, st.Ino
}

// TestListenersBinary: the real binary, -o json --port: the socket there
// at start, the end-of-snapshot marker, then a close and a listen on that
// port, each with its inode and our PID; SIGTERM ends it with exit 0 and
// the summary.
func TestListenersBinary(t *testing.T) {
	testenv.RequireBPF(t)
	testenv.RequireBTF(t)
	fd1, port, ino1 := listenOn(t, 0)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, out, "listeners", "-o", "json", "--port", strconv.Itoa(port))
	if !c.waitStderr(2*time.Minute, "watching for changes") {
		unix.Close(fd1)
		t.Fatalf("no snapshot; stderr:\n%s", c.stderr.String())
	}
	unix.Close(fd1)
	fd2, _, ino2 := listenOn(t, port)
	defer unix.Close(fd2)
	time.Sleep(500 * time.Millisecond)
	c.cmd.Process.Signal(unix.SIGTERM)
	code, how := c.exited(t, time.Minute, nil)
	if code != 0 || !strings.Contains(lastLine(c.stderr.String()), "2 changes reported") {
		t.Errorf("%s; stderr:\n%s", how, c.stderr.String())
	}
	out.Seek(0, 0)
	type obj struct {
		Event     string `json:"event"`
		Inode     uint64 `json:"inode"`
		Port      int    `json:"port"`
		PID       int    `json:"pid"`
		Listeners int    `json:"listeners"`
		Owners    []struct {
			PID int `json:"pid"`
		} `json:"owners"`
	}
	var got []obj
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var o obj
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		got = append(got, o)
	}
	me := os.Getpid()
	ok := len(got) == 4 &&
		got[0].Event == "socket" && got[0].Inode == ino1 && got[0].Port == port && len(got[0].Owners) == 1 && got[0].Owners[0].PID == me &&
		got[1].Event == "snapshot_end" && got[1].Listeners == 1 &&
		got[2].Event == "close" && got[2].Inode == ino1 && got[2].PID == me &&
		got[3].Event == "listen" && got[3].Inode == ino2 && got[3].Port == port && got[3].PID == me
	if !ok {
		t.Errorf("stdout %+v; want the socket (inode %d), snapshot_end, its close, and a listen (inode %d), port %d, pid %d", got, ino1, ino2, port, me)
	}
}

// TestListenersBadFlags: one line, exit 2, before anything is attached.
func TestListenersBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"listeners", "--port", "0"},
		{"listeners", "--port", "70000"},
		{"listeners", "--attach", "kprobe"},
		{"listeners", "-p", "x"},
		{"listeners", "extra"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "evtrace: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line, exit 2", args, code, stdout, stderr)
		}
	}
}
