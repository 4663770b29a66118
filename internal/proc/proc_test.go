package proc

import (
	"testing"
	"time"
)

// TestPeakRSSGrowsWithUse touches 64 MB and expects the high-water mark to
// hold at least that much.
func TestPeakRSSGrowsWithUse(t *testing.T) {
	before, err := PeakRSS(0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = byte(i)
	}
	after, err := PeakRSS(0)
	if err != nil {
		t.Fatal(err)
	}
	if after < 64<<20 || after < before {
		t.Fatalf("peak RSS %d bytes after touching 64 MB (%d before)", after, before)
	}
	_ = b[len(b)-1]
}

func TestCPUAdvances(t *testing.T) {
	before, err := CPU(0)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		x++
	}
	after, err := CPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time %v after spinning, %v before (%d turns)", after, before, x)
	}
}

func TestMissingProcessIsAnError(t *testing.T) {
	if _, err := PeakRSS(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
