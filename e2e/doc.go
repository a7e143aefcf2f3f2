// Package e2e runs evtrace's end-to-end tests: it builds the evtrace binary
// and the guest test binary (package e2e/guest), boots the Debian 12 VM of
// scripts/vm with the repository shared, and runs the guest tests there,
// where the kernel has kprobes (TestListenInVM), and runs the same guest
// tests on this machine too (TestListenOnHost).
package e2e
