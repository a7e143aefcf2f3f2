package perf

import (
	"errors"
	"testing"
	"time"
)

// Close ends a Run that waits in epoll_wait, and Run says so with
// ErrClosed; a reader closed before Run or Finish refuses them the same way.
func TestCloseInterruptsRun(t *testing.T) {
	r, err := newReader("t")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *Batch)
	started := make(chan struct{})
	ran := make(chan error, 1)
	go func() {
		close(started)
		ran <- r.Run(out)
	}()
	<-started
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-ran:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still blocked 5s after Close")
	}
	if err := r.Run(out); !errors.Is(err, ErrClosed) {
		t.Errorf("Run on a closed reader: %v, want ErrClosed", err)
	}
	if _, _, err := r.Finish(func(*Batch) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Finish on a closed reader: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Interrupt ends Run with nil and leaves the reader open for Finish.
func TestInterruptEndsRunWithoutClosing(t *testing.T) {
	r, err := newReader("t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(make(chan *Batch)) }()
	r.Interrupt()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run after Interrupt: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still blocked 5s after Interrupt")
	}
}
