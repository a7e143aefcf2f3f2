package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// mapEntries is how many entries the map benchmark's hash holds.
const mapEntries = 100000

// mapSample is one consumer printing the full hash at exit.
type mapSample struct {
	wall  time.Duration // SIGINT until the process exited
	cpu   time.Duration // user+system time spent after SIGINT
	lines int           // entries printed
}

// mapsBench fills a 100,000-entry hash (scripts/bench/maps.c) and times
// printing it at exit: evtrace run (libbcc's types, batch reads, sorted
// columns) against bcc's Python items() sorted and printed as its tools
// do (scripts/bench/bcc_maps.py).
func mapsBench(b *bytes.Buffer, dir, evtrace, loadgen string, pyEnv []string, reps int) error {
	probe := filepath.Join(dir, "maps.c")
	cases := []struct {
		name  string
		args  []string
		env   []string
		ready string
	}{
		{"evtrace run", []string{evtrace, "run", probe, "--maps", "big"}, nil, "evtrace: tracing"},
		{"bcc Python items()", []string{"/usr/bin/python3", filepath.Join(dir, "bcc_maps.py"), probe}, pyEnv, "READY"},
	}
	b.WriteString("\n## Printing a 100,000-entry hash at exit\n\n")
	b.WriteString("scripts/bench/maps.c fills a hash of `struct {u32 pid; char comm[16];} -> u64` with\n")
	b.WriteString("100,000 entries (one per marked getpgid call); the consumer then gets SIGINT and\n")
	b.WriteString("prints every entry, sorted by value, to a pipe. Wall is SIGINT until the process\n")
	b.WriteString("exited; CPU is its user+system time after SIGINT. evtrace reads the map with\n")
	b.WriteString("BPF_MAP_LOOKUP_BATCH (the read at exit does not clear); bcc's Python with\n")
	b.WriteString("items() (a BPF_MAP_GET_NEXT_KEY and a lookup per key).\n")
	fmt.Fprintf(b, "%d runs each, median [range].\n\n", reps)
	b.WriteString("| consumer | entries printed | wall ms | CPU ms |\n|---|---|---|---|\n")
	wall := map[string]float64{}
	cpu := map[string]float64{}
	for _, c := range cases {
		var ws, cs []float64
		lines := 0
		for i := 0; i < reps; i++ {
			s, err := measureMap(c.args, c.env, c.ready, loadgen)
			if err != nil {
				return fmt.Errorf("%s: %v", c.name, err)
			}
			if s.lines != mapEntries {
				return fmt.Errorf("%s printed %d entries, want %d", c.name, s.lines, mapEntries)
			}
			lines = s.lines
			ws = append(ws, float64(s.wall.Microseconds())/1000)
			cs = append(cs, float64(s.cpu.Microseconds())/1000)
		}
		wall[c.name], cpu[c.name] = medianOf(ws), medianOf(cs)
		line := fmt.Sprintf("| %s | %d | %s | %s |", c.name, lines, spread(ws, "%.0f"), spread(cs, "%.0f"))
		fmt.Println(line)
		b.WriteString(line + "\n")
	}
	ev, py := "evtrace run", "bcc Python items()"
	fmt.Fprintf(b, "\nbcc Python / evtrace: wall %.1fx, CPU %.1fx (goal: at least 10x).\n", wall[py]/wall[ev], cpu[py]/cpu[ev])
	return nil
}

// measureMap starts a consumer, fills the map, interrupts the consumer and
// times its print.
func measureMap(args, env []string, ready, loadgen string) (mapSample, error) {
	var s mapSample
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return s, err
	}
	counted := make(chan int, 1)
	go func() {
		n := 0
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			n++
		}
		counted <- n
	}()
	r, err := startCmd(cmd, ready)
	if err != nil {
		return s, err
	}
	defer r.cmd.Process.Kill()
	load := exec.Command(loadgen, "-count", strconv.Itoa(mapEntries))
	if out, err := load.CombinedOutput(); err != nil {
		return s, fmt.Errorf("loadgen: %v: %s", err, out)
	}
	cpu0 := cpuTime(cmd.Process.Pid)
	t0 := time.Now()
	r.cmd.Process.Signal(syscall.SIGINT)
	for range r.lines {
	}
	lines := <-counted
	if err := r.cmd.Wait(); err != nil {
		return s, fmt.Errorf("exit: %v", err)
	}
	s.wall = time.Since(t0)
	s.cpu = r.cmd.ProcessState.UserTime() + r.cmd.ProcessState.SystemTime() - cpu0
	// evtrace's text output has a "big:" line and a header line.
	if args[0] != "/usr/bin/python3" {
		lines -= 2
	}
	s.lines = lines
	return s, nil
}
