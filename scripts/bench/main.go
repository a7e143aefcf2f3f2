// Command bench measures evtrace against bcc's Python runtime on the same
// BPF program and the same load (make bench; root). For each consumer, perf
// ring size and event rate it starts a fresh consumer, times it to ready,
// fires a fixed number of marked getpgid calls with loadgen, stops the
// consumer and reads what it delivered and lost, its CPU time and its peak
// RSS. Each point is repeated; the medians go to docs/benchmarks.md.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/evtrace/evtrace/tracer/headers"
	"github.com/evtrace/evtrace/tracer/kernel"
)

type consumer struct {
	env   []string
	name  string
	mode  string // perf or debug
	pages int
	args  func(probe string) []string
	ready string
	sumRe *regexp.Regexp // delivered, lost
}

type sample struct {
	ready     time.Duration
	delivered uint64
	lost      uint64
	fired     uint64
	firedRate float64       // events/s loadgen reached
	cpu       time.Duration // user+system of the consumer during the load
	rssKB     uint64
}

func main() {
	dir := flag.String("dir", "scripts/bench", "directory of probe.c and bcc_consumer.py")
	evtrace := flag.String("evtrace", "./evtrace", "evtrace binary")
	loadgen := flag.String("loadgen", "./loadgen", "loadgen binary")
	reps := flag.Int("reps", 3, "repetitions of each point")
	secs := flag.Float64("seconds", 2, "load duration per point at a fixed rate")
	out := flag.String("out", "docs/benchmarks.md", "markdown report")
	rates := flag.String("rates", "", "perf and ringbuf rates to measure, e.g. 20000,100000,max (default: all)")
	match := flag.String("consumers", "", "measure only the consumers whose name contains this, e.g. \"evtrace run\"")
	only := flag.String("only", "", "perf, ringbuf, debug, start or maps: measure that part only")
	flag.Parse()
	probe := filepath.Join(*dir, "probe.c")
	// bcc's Python finds headers only where libbcc looks; on a kernel
	// without its own, give it the tree evtrace would use.
	pyEnv := os.Environ()
	if rel, err := kernel.Release(); err == nil {
		if _, err := headers.Find(headers.Search{Env: os.Getenv("BCC_KERNEL_SOURCE"), Release: rel}); err != nil {
			if h, err := headers.OtherRelease("/lib/modules", rel, headers.DefaultCache); err == nil {
				pyEnv = append(pyEnv, "BCC_KERNEL_SOURCE="+h.Dir)
			}
		}
	}
	py := filepath.Join(*dir, "bcc_consumer.py")
	evSum := regexp.MustCompile(`evtrace: (\d+) events, (\d+) lost`)
	pySum := regexp.MustCompile(`events (\d+) lost (\d+)`)

	var consumers []consumer
	for _, pages := range []int{8, 64} {
		p := pages
		consumers = append(consumers,
			consumer{nil, "evtrace run", "perf", p, func(pr string) []string {
				return []string{*evtrace, "run", pr, "--perf-pages", strconv.Itoa(p)}
			}, "evtrace: tracing", evSum},
			consumer{pyEnv, "bcc Python", "perf", p, func(pr string) []string {
				return []string{"/usr/bin/python3", py, pr, "--pages", strconv.Itoa(p)}
			}, "READY", pySum})
	}
	// Ring buffers: one ring for all CPUs, of as many pages as the perf
	// rows' rings on every CPU together.
	ncpu := runtime.NumCPU()
	for _, perCPU := range []int{8, 64} {
		p := perCPU * ncpu
		consumers = append(consumers,
			consumer{nil, "evtrace run", "ringbuf", p, func(pr string) []string {
				return []string{*evtrace, "run", pr, "-D", "BENCH_RINGBUF", "-D", "RB_PAGES=" + strconv.Itoa(p)}
			}, "evtrace: tracing", evSum},
			consumer{pyEnv, "bcc Python", "ringbuf", p, func(pr string) []string {
				return []string{"/usr/bin/python3", py, pr, "--ringbuf", strconv.Itoa(p)}
			}, "READY", pySum})
	}
	// bcc's setting (a wakeup per record) on evtrace's reader: what the
	// batching is worth.
	consumers = append(consumers, consumer{nil, "evtrace run, wakeup 1", "perf", 64, func(pr string) []string {
		return []string{*evtrace, "run", pr, "--perf-pages", "64", "--perf-wakeup", "1"}
	}, "evtrace: tracing", evSum})
	consumers = append(consumers,
		consumer{nil, "evtrace run", "debug", 0, func(pr string) []string {
			return []string{*evtrace, "run", pr, "-D", "BENCH_PRINTK"}
		}, "evtrace: tracing", evSum},
		consumer{pyEnv, "bcc Python", "debug", 0, func(pr string) []string {
			return []string{"/usr/bin/python3", py, pr, "--printk"}
		}, "READY", pySum})

	perfRates := []int{20000, 50000, 100000, 200000, 400000, 600000, 800000, 0}
	if *rates != "" {
		perfRates = nil
		for _, r := range strings.Split(*rates, ",") {
			n, err := strconv.Atoi(r)
			if r == "max" {
				n, err = 0, nil
			}
			if err != nil || n < 0 {
				fmt.Fprintf(os.Stderr, "bench: -rates %q: want events/s separated by commas, or max\n", *rates)
				os.Exit(2)
			}
			perfRates = append(perfRates, n)
		}
	}
	debugRates := []int{2000, 10000, 50000, 100000, 0}
	var report bytes.Buffer
	header(&report)
	if *only == "" || *only == "start" {
		if err := startup(&report, *evtrace, py, pyEnv, max(*reps, 5)); err != nil {
			fmt.Fprintln(os.Stderr, "bench: start-up:", err)
			os.Exit(1)
		}
	}
	if *only == "" || *only == "maps" {
		if err := mapsBench(&report, *dir, *evtrace, *loadgen, pyEnv, max(*reps, 3)); err != nil {
			fmt.Fprintln(os.Stderr, "bench: maps:", err)
			os.Exit(1)
		}
	}
	if *only != "" && *only != "perf" && *only != "ringbuf" && *only != "debug" {
		write(*out, report.Bytes())
		return
	}
	report.WriteString(perfHeader)
	medians := map[pointKey][]median{}
	for _, c := range consumers {
		if *only != "" && c.mode != *only || !strings.Contains(c.name, *match) {
			continue
		}
		rates := perfRates
		if c.mode == "debug" {
			rates = debugRates
		}
		for _, rate := range rates {
			count := int(float64(rate) * *secs)
			if rate == 0 {
				count = 400000
			}
			var ss []sample
			for r := 0; r < *reps; r++ {
				s, err := measure(c, probe, *loadgen, rate, count)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s %s rate %d: %v\n", c.name, c.mode, rate, err)
					os.Exit(1)
				}
				ss = append(ss, s)
			}
			line, m := row(c, rate, ss)
			fmt.Println(line)
			report.WriteString(line + "\n")
			medians[pointKey{c.mode, c.pages, rate}] = append(medians[pointKey{c.mode, c.pages, rate}], m)
		}
	}
	footer(&report, medians, perfRates, debugRates)
	write(*out, report.Bytes())
}

func write(out string, report []byte) {
	if err := os.WriteFile(out, report, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", out)
}

// medianOf is the median of v (sorted in place).
func medianOf(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// spread formats v's median and range, "median [low–high]".
func spread(v []float64, f string) string {
	m := medianOf(v)
	return fmt.Sprintf(f+" ["+f+"–"+f+"]", m, v[0], v[len(v)-1])
}

// running is a consumer started and attached.
type running struct {
	cmd   *exec.Cmd
	lines chan string
	ready time.Duration
}

// start runs a consumer, its output to /dev/null (every consumer formats
// every event), and waits until it says it is attached.
func start(args, env []string, readyText string) (*running, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	return startCmd(cmd, readyText)
}

// startCmd starts cmd and waits until its stderr says readyText.
func startCmd(cmd *exec.Cmd, readyText string) (*running, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &running{cmd: cmd, lines: make(chan string, 64)}
	go func() {
		// Read to the end whatever happens, so that the consumer never
		// blocks on a full stderr pipe; long lines are cut, not fatal.
		br := bufio.NewReaderSize(stderr, 64*1024)
		for {
			l, err := br.ReadString('\n')
			if l != "" {
				r.lines <- strings.TrimRight(l, "\n")
			}
			if err != nil {
				break
			}
		}
		close(r.lines)
	}()
	var errText strings.Builder
	timeout := time.After(3 * time.Minute)
	for ready := false; !ready; {
		select {
		case l, ok := <-r.lines:
			if !ok {
				cmd.Wait()
				return nil, fmt.Errorf("consumer exited before ready: %.2000s", errText.String())
			}
			errText.WriteString(l + "\n")
			ready = strings.Contains(l, readyText)
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("not ready after 3 minutes")
		}
	}
	r.ready = time.Since(t0)
	return r, nil
}

// stop interrupts the consumer and returns its remaining stderr lines.
func (r *running) stop() []string {
	r.cmd.Process.Signal(syscall.SIGINT)
	var rest []string
	kill := time.AfterFunc(30*time.Second, func() { r.cmd.Process.Kill() })
	defer kill.Stop()
	for l := range r.lines {
		rest = append(rest, l)
	}
	r.cmd.Wait()
	return rest
}

// startup measures start-to-ready and peak RSS with the listen probe:
// evtrace's bcc backend, its ELF backend with a warm cache, and bcc's
// Python compiling the same C text.
func startup(b *bytes.Buffer, evtrace, py string, pyEnv []string, reps int) error {
	// Under /run: evtrace refuses a cache another user could write (/tmp).
	dir, err := os.MkdirTemp("/run", "evtrace-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	text, err := exec.Command(evtrace, "listen", "--ebpf", "--backend", "bcc").Output()
	if err != nil {
		return fmt.Errorf("evtrace listen --ebpf: %v", err)
	}
	src := filepath.Join(dir, "listen.c")
	if err := os.WriteFile(src, text, 0o644); err != nil {
		return err
	}
	cache := filepath.Join(dir, "cache")
	if out, err := exec.Command(evtrace, "compile", "listen", "--cache-dir", cache).CombinedOutput(); err != nil {
		return fmt.Errorf("evtrace compile listen: %v\n%s", err, out)
	}
	cases := []struct {
		name  string
		args  []string
		env   []string
		ready string
	}{
		{"evtrace listen --backend bcc", []string{evtrace, "listen", "--backend", "bcc"}, nil, "evtrace: tracing"},
		{"evtrace listen --backend elf (warm cache)", []string{evtrace, "listen", "--backend", "elf", "--cache-dir", cache}, nil, "evtrace: tracing"},
		{"bcc Python, the same C", []string{"/usr/bin/python3", py, src, "--table", "listen_events"}, pyEnv, "READY"},
	}
	b.WriteString("## Start-up: the listen probe\n\n")
	fmt.Fprintf(b, "Process start until attached (for bcc: compile included), and peak RSS; %d runs each, median [range].\n\n", reps)
	b.WriteString("| consumer | ready ms | peak RSS MB |\n|---|---|---|\n")
	ready := map[string]float64{}
	rss := map[string]float64{}
	for _, c := range cases {
		var rs, ms []float64
		for i := 0; i < reps; i++ {
			r, err := start(c.args, c.env, c.ready)
			if err != nil {
				return fmt.Errorf("%s: %v", c.name, err)
			}
			rs = append(rs, float64(r.ready.Microseconds())/1000)
			ms = append(ms, float64(peakRSS(r.cmd.Process.Pid))/1024)
			r.stop()
		}
		sort.Float64s(rs)
		sort.Float64s(ms)
		ready[c.name], rss[c.name] = rs[len(rs)/2], ms[len(ms)/2]
		line := fmt.Sprintf("| %s | %.0f [%.0f–%.0f] | %.0f [%.0f–%.0f] |", c.name, rs[len(rs)/2], rs[0], rs[len(rs)-1], ms[len(ms)/2], ms[0], ms[len(ms)-1])
		fmt.Println(line)
		b.WriteString(line + "\n")
	}
	bccB, elfB, pyB := cases[0].name, cases[1].name, cases[2].name
	fmt.Fprintf(b, "\nRatios: elf (warm) / bcc backend ready %.3f, RSS %.2f; bcc backend / bcc Python ready %.2f, RSS %.2f; elf (warm) / bcc Python RSS %.2f.\n\n",
		ready[elfB]/ready[bccB], rss[elfB]/rss[bccB], ready[bccB]/ready[pyB], rss[bccB]/rss[pyB], rss[elfB]/rss[pyB])
	return nil
}

func measure(c consumer, probe, loadgen string, rate, count int) (sample, error) {
	var s sample
	r, err := start(c.args(probe), c.env, c.ready)
	if err != nil {
		return s, err
	}
	defer r.cmd.Process.Kill()
	cmd := r.cmd
	s.ready = r.ready
	cpu0 := cpuTime(cmd.Process.Pid)
	load := exec.Command(loadgen, "-count", strconv.Itoa(count), "-rate", strconv.Itoa(rate))
	out, err := load.Output()
	if err != nil {
		return s, fmt.Errorf("loadgen: %v", err)
	}
	var secs float64
	if _, err := fmt.Sscanf(string(out), "fired %d in %fs (%f/s)", &s.fired, &secs, &s.firedRate); err != nil {
		return s, fmt.Errorf("loadgen said %q", out)
	}
	time.Sleep(700 * time.Millisecond) // let the consumer drain
	s.cpu = cpuTime(cmd.Process.Pid) - cpu0
	s.rssKB = peakRSS(cmd.Process.Pid)
	for _, l := range r.stop() {
		if m := c.sumRe.FindStringSubmatch(l); m != nil {
			s.delivered, _ = strconv.ParseUint(m[1], 10, 64)
			s.lost, _ = strconv.ParseUint(m[2], 10, 64)
		}
	}
	return s, nil
}

// cpuTime is a process's user+system time, from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseUint(f[11], 10, 64) // utime: field 14 of stat
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func peakRSS(pid int) uint64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func header(b *bytes.Buffer) {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	cpus, _ := exec.Command("nproc").Output()
	bcc, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", "libbpfcc").Output()
	py, _ := exec.Command("/usr/bin/python3", "--version").Output()
	goVer, _ := exec.Command("go", "version").Output()
	fmt.Fprintf(b, "# Benchmarks: evtrace against bcc's Python runtime\n\n")
	fmt.Fprintf(b, "Made by `make bench` on %s: host %s, kernel %s, %s CPUs, bcc (libbpfcc) %s, %s, %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), host, strings.TrimSpace(string(kernel)), strings.TrimSpace(string(cpus)),
		bcc, strings.TrimSpace(string(py)), strings.TrimSpace(string(goVer)))
	b.WriteString(`Start-up is measured with the listen probe (evtrace listen; bcc's Python gets
the same C text, from evtrace listen --ebpf --backend bcc). The event pipeline
is measured with scripts/bench/probe.c, a tracepoint on syscalls:sys_enter_getpgid that
sends a 32-byte struct per marked call through a perf buffer (or, in ringbuf
mode, ringbuf_output to one BPF_RINGBUF_OUTPUT ring of as many pages as the
perf rows' rings on all CPUs together; in debug mode, one bpf_trace_printk
line). Load: scripts/bench/loadgen, one thread calling getpgid at a fixed rate
(or as fast as it can: rate "max"), for a fixed count. Consumers print every
event (to /dev/null): evtrace run, and scripts/bench/bcc_consumer.py
(BPF(text=...), open_perf_buffer + perf_buffer_poll, open_ring_buffer +
ring_buffer_poll, or trace_fields).

`)
}

const perfHeader = `## Event pipeline: a getpgid tracepoint

Each row: median of the repetitions, with the range in brackets. Delivered is
events printed / events fired; lost is what the kernel reported lost (the
trace pipe reports losses as "CPU:N [LOST M EVENTS]" lines, which evtrace
counts and bcc's trace_fields skips). CPU is the consumer's user+system time
during the load, per event delivered (10 ms ticks: noisy at low counts).
Ready is process start until the probe is attached (compile included); RSS is
the consumer's peak resident set. evtrace reads with its defaults (a wakeup
when a ring is a quarter full, rings also read every 100 ms) unless the row
says otherwise; bcc wakes up for every record.

| consumer | mode | pages/CPU | rate/s | fired/s | delivered | lost | CPU µs/event | ready s | peak RSS MB |
|---|---|---|---|---|---|---|---|---|---|
`

type pointKey struct {
	mode  string
	pages int
	rate  int
}

// median is one consumer's medians at one point, for the ratios.
type median struct {
	name                         string
	delivered, cpu, ready, rssMB float64
	firedRate                    float64 // median events/s the generator reached
	lossless                     bool    // every repetition delivered all, lost none
}

func row(c consumer, rate int, ss []sample) (string, median) {
	med := func(f func(sample) float64) (float64, float64, float64) {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		sort.Float64s(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}
	r := "max"
	if rate > 0 {
		r = strconv.Itoa(rate)
	}
	pages := pagesLabel(c.mode, c.pages)
	fm, _, _ := med(func(s sample) float64 { return s.firedRate })
	dm, dl, dh := med(func(s sample) float64 { return 100 * float64(s.delivered) / float64(max(s.fired, 1)) })
	lm, ll, lh := med(func(s sample) float64 { return float64(s.lost) })
	cm, cl, ch := med(func(s sample) float64 {
		return float64(s.cpu.Microseconds()) / float64(max(s.delivered, 1))
	})
	rm, rl, rh := med(func(s sample) float64 { return s.ready.Seconds() })
	mm, _, _ := med(func(s sample) float64 { return float64(s.rssKB) / 1024 })
	lossless := true
	for _, s := range ss {
		if s.lost > 0 || s.delivered < s.fired {
			lossless = false
		}
	}
	m := median{c.name, dm, cm, rm, mm, fm, lossless}
	return fmt.Sprintf("| %s | %s | %s | %s | %.0f | %.1f%% [%.1f–%.1f] | %.0f [%.0f–%.0f] | %.2f [%.2f–%.2f] | %.2f [%.2f–%.2f] | %.0f |",
		c.name, c.mode, pages, r, fm, dm, dl, dh, lm, ll, lh, cm, cl, ch, rm, rl, rh, mm), m
}

func footer(b *bytes.Buffer, medians map[pointKey][]median, perfRates, debugRates []int) {
	// The highest rate each consumer kept without loss: the fastest point,
	// by the rate the generator reached, at which every repetition
	// delivered every event. Rates are tried in increasing order and the
	// last one ("max") is as fast as the generator can go beside that
	// consumer, so a consumer that slows the producer scores lower.
	b.WriteString("\n## Highest rate without loss (events/s the generator reached)\n\n")
	b.WriteString("| consumer | mode | pages/CPU | highest lossless rate | first rate with loss |\n|---|---|---|---|---|\n")
	type series struct {
		name, mode string
		pages      int
	}
	best := map[series][2]float64{} // highest lossless, lowest lossy
	var order []series
	for k, ms := range medians {
		for _, m := range ms {
			sr := series{m.name, k.mode, k.pages}
			v, seen := best[sr]
			if !seen {
				order = append(order, sr)
			}
			if m.lossless && m.firedRate > v[0] {
				v[0] = m.firedRate
			}
			if !m.lossless && (v[1] == 0 || m.firedRate < v[1]) {
				v[1] = m.firedRate
			}
			best[sr] = v
		}
	}
	sort.Slice(order, func(i, j int) bool {
		a, c := order[i], order[j]
		if a.mode != c.mode {
			return a.mode > c.mode
		}
		if a.pages != c.pages {
			return a.pages < c.pages
		}
		return a.name < c.name
	})
	for _, sr := range order {
		v := best[sr]
		lossy := "none"
		if v[1] > 0 {
			lossy = fmt.Sprintf("%.0f", v[1])
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.0f | %s |\n", sr.name, sr.mode, pagesLabel(sr.mode, sr.pages), v[0], lossy)
	}

	b.WriteString("\n## Ratios, evtrace / bcc Python (medians)\n\n")
	b.WriteString("Below 1 is better for evtrace in CPU, ready and RSS; delivered is in points of percent.\n\n")
	b.WriteString("| mode | pages/CPU | rate/s | CPU per event | delivered (evtrace − bcc) | ready | peak RSS |\n|---|---|---|---|---|---|---|\n")
	keys := make([]pointKey, 0, len(medians))
	for k := range medians {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.mode != b.mode {
			return a.mode > b.mode
		}
		if a.pages != b.pages {
			return a.pages < b.pages
		}
		ra, rb := a.rate, b.rate
		if ra == 0 {
			ra = 1 << 30
		}
		if rb == 0 {
			rb = 1 << 30
		}
		return ra < rb
	})
	for _, k := range keys {
		var ev, py *median
		for i := range medians[k] {
			switch medians[k][i].name {
			case "evtrace run":
				ev = &medians[k][i]
			case "bcc Python":
				py = &medians[k][i]
			}
		}
		if ev == nil || py == nil {
			continue
		}
		r := "max"
		if k.rate > 0 {
			r = strconv.Itoa(k.rate)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.2f | %+.1f | %.2f | %.2f |\n", k.mode, pagesLabel(k.mode, k.pages), r,
			ev.cpu/py.cpu, ev.delivered-py.delivered, ev.ready/py.ready, ev.rssMB/py.rssMB)
	}
}

// pagesLabel is a ring's size for the tables: pages per CPU for perf,
// pages of the one ring for ringbuf, "-" for debug mode.
func pagesLabel(mode string, pages int) string {
	if pages == 0 {
		return "-"
	}
	if mode == "ringbuf" {
		return strconv.Itoa(pages) + " (one ring)"
	}
	return strconv.Itoa(pages)
}
