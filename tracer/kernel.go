package tracer

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

// checkRoot returns ErrNotRoot unless the effective user is root.
func checkRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

// TraceFS returns the directory of the kernel's tracing file system
// (/sys/kernel/tracing, or /sys/kernel/debug/tracing on older kernels),
// mounting tracefs or debugfs when neither is there.
func TraceFS() (string, error) {
	// libbcc and the kprobe list (/sys/kernel/debug/kprobes) live under
	// debugfs: mount it too when it is missing, and ignore failure.
	if _, err := os.Stat(filepath.Join(debugfsDir, "tracing")); err != nil {
		_ = unix.Mount("nodev", debugfsDir, "debugfs", 0, "")
	}
	dir, err := findTraceFS()
	if err != nil || dir != "" {
		return dir, err
	}
	// Mount what is missing, then look again.
	mountErr := unix.Mount("nodev", tracefsDir, "tracefs", 0, "")
	if mountErr != nil {
		if err := unix.Mount("nodev", debugfsDir, "debugfs", 0, ""); err == nil {
			mountErr = nil
		}
	}
	if dir, err := findTraceFS(); err != nil || dir != "" {
		return dir, err
	}
	if mountErr != nil {
		return "", fmt.Errorf("tracefs is not mounted and mounting it failed: %w (try: mount -t tracefs nodev %s)", mountErr, tracefsDir)
	}
	return "", fmt.Errorf("no trace_pipe under %s or %s: is tracing (CONFIG_FTRACE) enabled in this kernel?", tracefsDir, debugTracing)
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

// checkKprobes returns ErrNoKprobes, with what was looked at, when the kernel
// cannot create kprobes.
func checkKprobes() error {
	if KprobesSupported() {
		return nil
	}
	detail := fmt.Sprintf("no %s and no kprobe_events in tracefs", kprobePMU)
	if set, ok := kernelConfig("CONFIG_KPROBES"); ok && set != "y" {
		detail = "CONFIG_KPROBES is not set in /proc/config.gz"
	}
	return fmt.Errorf("%w: %s; kprobe probes cannot run here (tracepoints may)", ErrNoKprobes, detail)
}

// kernelConfig returns the value of one option of the running kernel's
// configuration, from /proc/config.gz or /boot/config-RELEASE. ok is false
// when no configuration file could be read; an unset option is "".
func kernelConfig(option string) (value string, ok bool) {
	var r io.Reader
	if f, err := os.Open("/proc/config.gz"); err == nil {
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			return "", false
		}
		r = gz
	} else {
		rel, err := KernelRelease()
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

// KernelRelease returns the running kernel's release, as uname -r prints it.
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// checkTracepoint returns ErrNoTracepoint when category:event is not in the
// tracing file system.
func checkTracepoint(name string) error {
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

// KernelHasSymbol reports whether /proc/kallsyms lists a function with this
// exact name; false when it cannot be read.
func KernelHasSymbol(name string) bool {
	ok, _ := kernelHasSymbol(name)
	return ok
}

// kernelHasSymbol reports whether /proc/kallsyms lists a text symbol with
// this exact name.
func kernelHasSymbol(name string) (bool, error) {
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

// removeStaleKprobes deletes kprobe events left in kprobe_events by bcc or
// gobpf/elf processes that no longer exist (killed with SIGKILL before they could
// detach) and returns their names. Probes of live processes are untouched.
// Kernels with the kprobe PMU have none: their kprobes die with the process.
func removeStaleKprobes(procDir string) ([]string, error) {
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
