package vips

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkResizePhotos resizes the edge bench's real photos (make them
// with `bash bench/run.sh edge` once; the benchmark is skipped without
// them) to the bench's sequence of cover-crop sizes, one image at a time:
// ns/op is the CPU one resize costs.
func BenchmarkResizePhotos(b *testing.B) {
	dir := os.Getenv("SLUICE_BENCH_PHOTOS")
	if dir == "" {
		dir = filepath.Join("..", ".bench", "photos")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(names) == 0 {
		b.Skipf("no photos in %s", dir)
	}
	sort.Strings(names)
	srcs := make([][]byte, len(names))
	for i, n := range names {
		var err error
		if srcs[i], err = os.ReadFile(n); err != nil {
			b.Fatal(err)
		}
	}
	p := shared()
	n := 0
	cpu0 := cpuTime()
	for b.Loop() {
		a := n / len(srcs) % 1000
		w, h := 200+(a*389)%1000, 150+(a*211)%900
		prm := Params{Width: w, Height: h, Fit: FitCover, Format: FormatJPEG, Quality: 80}
		if _, _, err := p.Resize(context.Background(), srcs[n%len(srcs)], prm); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine it says what the work cost better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkResizePhotosLoaded is BenchmarkResizePhotos under load: 8
// goroutines resize at once, as the edge bench's 8 connections do, through
// Processors of different worker counts. cpu-ms/op is what one resize
// costs when images compete for the cores.
func BenchmarkResizePhotosLoaded(b *testing.B) {
	dir := os.Getenv("SLUICE_BENCH_PHOTOS")
	if dir == "" {
		dir = filepath.Join("..", ".bench", "photos")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(names) == 0 {
		b.Skipf("no photos in %s", dir)
	}
	sort.Strings(names)
	srcs := make([][]byte, len(names))
	for i, n := range names {
		var err error
		if srcs[i], err = os.ReadFile(n); err != nil {
			b.Fatal(err)
		}
	}
	for _, workers := range []int{2, 3, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Workers, cfg.QueueDepth = workers, 64
			p, err := New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			var next atomic.Int64
			cpu0 := cpuTime()
			b.SetParallelism(8 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := int(next.Add(1) - 1)
					a := n / len(srcs) % 1000
					w, h := 200+(a*389)%1000, 150+(a*211)%900
					prm := Params{Width: w, Height: h, Fit: FitCover, Format: FormatJPEG, Quality: 80}
					if _, _, err := p.Resize(context.Background(), srcs[n%len(srcs)], prm); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(next.Load()), "cpu-ms/op")
		})
	}
}
