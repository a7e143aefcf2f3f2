package kernel

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// Tracing file systems, in the order they are tried.
const (
	tracefsDir   = "/sys/kernel/tracing"
	debugfsDir   = "/sys/kernel/debug"
	debugTracing = "/sys/kernel/debug/tracing"
	kprobePMU    = "/sys/bus/event_source/devices/kprobe"
)

// CheckRoot returns ErrNotRoot unless the effective user is root.
func CheckRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

// TraceFS returns the directory of the kernel's tracing file system
// (/sys/kernel/tracing, or /sys/kernel/debug/tracing on older kernels). It
// only looks: mounting is MountTracing's job, which the CLI calls first.
func TraceFS() (string, error) {
	dir, err := findTraceFS()
	if err != nil || dir != "" {
		return dir, err
	}
	return "", fmt.Errorf("tracefs is not mounted (try: mount -t tracefs nodev %s): no trace_pipe under %s or %s", tracefsDir, tracefsDir, debugTracing)
}

// MountTracing mounts what evtrace reads that is missing: debugfs (libbcc
// and the kprobe list live under it) and tracefs, or debugfs alone on
// kernels whose tracing lives there. It returns what it mounted, for the
// caller to report; nothing when all was there. A failure to mount debugfs
// alone is ignored (only libbcc's extras need it); the error says when no
// tracing file system could be found or mounted. It needs root.
func MountTracing() (mounted []string, err error) {
	if _, err := os.Stat(filepath.Join(debugfsDir, "tracing")); err != nil {
		if unix.Mount("nodev", debugfsDir, "debugfs", 0, "") == nil {
			mounted = append(mounted, "debugfs on "+debugfsDir)
		}
	}
	dir, err := findTraceFS()
	if err != nil || dir != "" {
		return mounted, err
	}
	mountErr := unix.Mount("nodev", tracefsDir, "tracefs", 0, "")
	if mountErr == nil {
		mounted = append(mounted, "tracefs on "+tracefsDir)
	} else if err := unix.Mount("nodev", debugfsDir, "debugfs", 0, ""); err == nil {
		mountErr = nil
		mounted = append(mounted, "debugfs on "+debugfsDir)
	}
	if dir, err := findTraceFS(); err != nil || dir != "" {
		return mounted, err
	}
	if mountErr != nil {
		return mounted, fmt.Errorf("tracefs is not mounted and mounting it failed: %w (try: mount -t tracefs nodev %s)", mountErr, tracefsDir)
	}
	return mounted, fmt.Errorf("no trace_pipe under %s or %s: is tracing (CONFIG_FTRACE) enabled in this kernel?", tracefsDir, debugTracing)
}

// findTraceFS returns the first tracing directory with a trace_pipe; ""
// when there is none; an error wrapping os.ErrPermission when one is there
// but this user may not look into it.
func findTraceFS() (string, error) {
	for _, dir := range []string{tracefsDir, debugTracing} {
		_, err := os.Stat(filepath.Join(dir, "trace_pipe"))
		switch {
		case err == nil:
			return dir, nil
		case errors.Is(err, os.ErrPermission):
			return "", fmt.Errorf("the tracing file system %s is readable by root only: %w", dir, os.ErrPermission)
		}
	}
	return "", nil
}

// KprobesSupported reports whether the running kernel can create kprobes:
// through the perf kprobe PMU (Linux >= 4.17, what libbcc uses first) or the
// kprobe_events file of the tracing file system.
func KprobesSupported() bool {
	if _, err := os.Stat(kprobePMU); err == nil {
		return true
	}
	if dir, err := TraceFS(); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "kprobe_events")); err == nil {
			return true
		}
	}
	return false
}

// CheckKprobes returns ErrNoKprobes, with what was looked at, when the kernel
// cannot create kprobes.
func CheckKprobes() error {
	if KprobesSupported() {
		return nil
	}
	detail := fmt.Sprintf("no %s and no kprobe_events in tracefs", kprobePMU)
	if set, ok := Config("CONFIG_KPROBES"); ok && set != "y" {
		detail = "CONFIG_KPROBES is not set in /proc/config.gz"
	}
	return fmt.Errorf("%w: %s; kprobe probes cannot run here (tracepoints may)", ErrNoKprobes, detail)
}

// Config returns the value of one option of the running kernel's
// configuration, from /proc/config.gz or /boot/config-RELEASE. ok is false
// when no configuration file could be read; an unset option is "".
func Config(option string) (value string, ok bool) {
	var r io.Reader
	if f, err := os.Open("/proc/config.gz"); err == nil {
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			return "", false
		}
		r = gz
	} else {
		rel, err := Release()
		if err != nil {
			return "", false
		}
		f, err := os.Open("/boot/config-" + rel)
		if err != nil {
			return "", false
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	prefix := option + "="
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), prefix); found {
			return v, true
		}
	}
	return "", sc.Err() == nil
}

// Release returns the running kernel's release, as uname -r prints it.
func Release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// CheckTracepoint returns ErrNoTracepoint when category:event is not in the
// tracing file system.
func CheckTracepoint(name string) error {
	category, event, ok := strings.Cut(name, ":")
	if !ok || category == "" || event == "" {
		return fmt.Errorf("tracepoint %q: want CATEGORY:EVENT", name)
	}
	dir, err := TraceFS()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "events", category, event, "id")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s (see %s/available_events)", ErrNoTracepoint, name, dir)
		}
		return fmt.Errorf("tracepoint %s: %w", name, err)
	}
	return nil
}

// HasSymbol reports whether /proc/kallsyms lists a function with this
// exact name; false when it cannot be read.
func HasSymbol(name string) bool {
	ok, _ := LookupSymbol(name)
	return ok
}

// LookupSymbol reports whether /proc/kallsyms lists a text symbol with
// this exact name.
func LookupSymbol(name string) (bool, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Lines look like "ffffffff81000000 T inet_listen".
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[2] == name {
			switch fields[1] {
			case "t", "T", "w", "W":
				return true, nil
			}
		}
	}
	return false, sc.Err()
}

// staleKprobeRe matches the kprobe events that libbcc (kernels without the
// kprobe PMU) and our patched gobpf/elf create through kprobe_events, whose
// names end in the creating process's id:
// "p:kprobes/p_inet_listen_bcc_1234 inet_listen", "..._gobpf_1234 ...".
// Kernels list a kretprobe with its maxactive: "r10:kprobes/...".
var staleKprobeRe = regexp.MustCompile(`^[pr][0-9]*:(\S+/\S+_(?:bcc|gobpf)_(\d+))\s`)

// RemoveStaleKprobes deletes kprobe events left in kprobe_events by bcc or
// gobpf/elf processes that no longer exist (killed with SIGKILL before they could
// detach) and returns their names. Probes of live processes are untouched.
// Kernels with the kprobe PMU have none: their kprobes die with the process.
func RemoveStaleKprobes(procDir string) ([]string, error) {
	dir, err := TraceFS()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kprobe_events")
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var removed []string
	for _, line := range strings.Split(string(data), "\n") {
		m := staleKprobeRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(procDir, m[2])); err == nil {
			continue // its process is alive
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return removed, fmt.Errorf("open %s: %w", path, err)
		}
		_, err = f.WriteString("-:" + m[1] + "\n")
		f.Close()
		if err != nil {
			return removed, fmt.Errorf("remove stale kprobe %s: %w", m[1], err)
		}
		removed = append(removed, m[1])
	}
	return removed, nil
}
