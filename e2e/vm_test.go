package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestListenInVM boots the VM once and runs e2e/guest inside it. It takes
// minutes (an image build the first time, then one boot and a few bcc
// compiles under emulation), so it runs only when asked: EVTRACE_E2E=1
// (make e2e), and always in CI.
func TestListenInVM(t *testing.T) {
	if os.Getenv("EVTRACE_E2E") != "1" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run the VM tests: set EVTRACE_E2E=1 (make e2e)")
		}
		t.Skip("boots a Debian VM for several minutes: run with EVTRACE_E2E=1 (make e2e)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the VM tests need root (image build, qemu)")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// Binaries go under the shared repository so the guest can run them;
	// the guest has the same Debian 12 userland and libbcc as the host.
	outDir := filepath.Join(repo, ".e2e")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	goBuild(t, repo, "build", "-o", filepath.Join(outDir, "evtrace"), ".")
	goBuild(t, repo, "test", "-c", "-tags", "vmguest", "-o", filepath.Join(outDir, "guest.test"), "./e2e/guest")

	start := time.Now()
	cmd := exec.Command(filepath.Join(repo, "scripts/vm/run.sh"), "--timeout", "1800", "--mem", "3072", "--smp", "2",
		"--env", "EVTRACE_BIN=/mnt/host/.e2e/evtrace", "--",
		"/mnt/host/.e2e/guest.test", "-test.v", "-test.timeout", "25m")
	cmd.Dir = repo
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	err = cmd.Run()
	t.Logf("VM run took %v", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("guest tests failed: %v (output above)", err)
	}
}

func goBuild(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
}
