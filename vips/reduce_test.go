package vips

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// Our reduction (reduce.c) against libvips' own: both paths resize the same
// JPEG to PNG, so the pixels compared are the resizers' and nothing else.

// diffStats compares two images of the same size band by band.
type diffStats struct {
	mean      float64 // mean absolute difference per sample
	max       int
	differing float64 // fraction of samples that differ at all
}

func (d diffStats) String() string {
	return fmt.Sprintf("mean %.4f, max %d, %.4f%% of samples differ", d.mean, d.max, 100*d.differing)
}

func decodePixels(t *testing.T, out []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return img
}

// samples returns an image's colour samples, band-interleaved; libvips
// writes RGB and greyscale PNGs here, which Go decodes to RGBA (alpha all
// opaque, left out so it does not dilute the statistics) and Gray, and
// padded ones with alpha, decoded to NRGBA.
func samples(t *testing.T, img image.Image) []uint8 {
	t.Helper()
	switch m := img.(type) {
	case *image.RGBA:
		rgb := make([]uint8, 0, len(m.Pix)/4*3)
		for i := 0; i+3 < len(m.Pix); i += 4 {
			rgb = append(rgb, m.Pix[i], m.Pix[i+1], m.Pix[i+2])
		}
		return rgb
	case *image.NRGBA: // padded by fit=contain: the alpha counts
		return m.Pix
	case *image.Gray:
		return m.Pix
	}
	t.Fatalf("unexpected decoded image %T", img)
	return nil
}

func compareImages(t *testing.T, a, b image.Image) diffStats {
	t.Helper()
	if a.Bounds() != b.Bounds() {
		t.Fatalf("sizes differ: %v and %v", a.Bounds(), b.Bounds())
	}
	pa, pb := samples(t, a), samples(t, b)
	if len(pa) != len(pb) {
		t.Fatalf("layouts differ: %T and %T", a, b)
	}
	var sum, differing int
	var d diffStats
	for i := range pa {
		v := int(pa[i]) - int(pb[i])
		if v < 0 {
			v = -v
		}
		sum += v
		if v > 0 {
			differing++
		}
		d.max = max(d.max, v)
	}
	d.mean = float64(sum) / float64(len(pa))
	d.differing = float64(differing) / float64(len(pa))
	return d
}

// resizeBoth returns src resized by our reduction and by libvips'.
func resizeBoth(t *testing.T, fast, lib *Processor, src []byte, prm Params) (image.Image, image.Image) {
	t.Helper()
	a, ha, err := fast.Resize(context.Background(), src, prm)
	if err != nil {
		t.Fatalf("fast %+v: %v", prm, err)
	}
	b, hb, err := lib.Resize(context.Background(), src, prm)
	if err != nil {
		t.Fatalf("libvips %+v: %v", prm, err)
	}
	if ha != hb {
		t.Fatalf("%+v: headers differ: fast %+v, libvips %+v", prm, ha, hb)
	}
	return decodePixels(t, a), decodePixels(t, b)
}

// noisyJPEG is a photo-like JPEG with fine detail everywhere, where any
// misplaced tap or phase shows.
func noisyJPEG(t testing.TB, w, h int, gray bool) []byte {
	t.Helper()
	src := photo(w, h)
	for y := range h {
		for x := range w {
			c := src.RGBAAt(x, y)
			n := uint8((x*7919 + y*104729 + x*y) % 61)
			c.R, c.G, c.B = c.R^n, c.G+n, c.B-n
			src.SetRGBA(x, y, c)
		}
	}
	var img image.Image = src
	if gray {
		g := image.NewGray(src.Bounds())
		for y := range h {
			for x := range w {
				g.Set(x, y, src.At(x, y))
			}
		}
		img = g
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type reduceCase struct {
	name string
	src  []byte
	prm  Params
	// libvips: our reduction does not apply (a mix of enlarging and
	// reducing, a shrink of 4 or more), libvips resizes.
	libvips bool
	// either: which of the two resizes is not asserted.
	either bool
}

func reduceCases(t *testing.T) []reduceCase {
	rgb := noisyJPEG(t, 333, 251, false)
	gray := noisyJPEG(t, 251, 333, true)
	var cases []reduceCase
	add := func(name string, src []byte, prm Params) {
		prm.Format = FormatPNG
		cases = append(cases, reduceCase{name: name, src: src, prm: prm})
	}
	for _, fit := range []string{FitCover, FitContain, FitInside, FitOutside, FitFill} {
		add("rgb "+fit, rgb, Params{Width: 101, Height: 77, Fit: fit})
		add("gray "+fit, gray, Params{Width: 88, Height: 131, Fit: fit})
	}
	add("rgb width only", rgb, Params{Width: 170})
	add("rgb height only", rgb, Params{Height: 90})
	add("rgb one axis", rgb, Params{Width: 333, Height: 100, Fit: FitFill})
	add("rgb barely smaller", rgb, Params{Width: 330, Height: 250})
	add("rgb shrink 3.9", rgb, Params{Width: 86})
	// Shrinks of 4 and more: libvips box-shrinks first.
	cases = append(cases, reduceCase{name: "rgb to one pixel", src: rgb, prm: Params{Width: 1, Height: 1, Format: FormatPNG}, libvips: true})
	add("rgb thin strip", rgb, Params{Width: 300, Height: 2})
	for o := uint16(1); o <= 8; o++ {
		src := withOrientation(t, rgb, o)
		add(fmt.Sprintf("orientation %d cover", o), src, Params{Width: 97, Height: 60})
		add(fmt.Sprintf("orientation %d inside", o), src, Params{Width: 97, Height: 60, Fit: FitInside})
	}
	// Enlargements: vips_affine's bicubic in libvips.
	add("rgb enlarge cover", rgb, Params{Width: 501, Height: 389})
	add("rgb enlarge inside", rgb, Params{Width: 700, Height: 600, Fit: FitInside})
	add("rgb enlarge one axis", rgb, Params{Width: 333, Height: 400, Fit: FitFill})
	cases = append(cases, reduceCase{name: "rgb enlarge and reduce", src: rgb, prm: Params{Width: 500, Height: 100, Fit: FitFill, Format: FormatPNG}, libvips: true})
	add("rgb enlarge slightly", rgb, Params{Width: 340})
	add("gray enlarge", gray, Params{Width: 300, Height: 500})
	for _, o := range []uint16{3, 6, 7} {
		add(fmt.Sprintf("orientation %d enlarge", o), withOrientation(t, rgb, o), Params{Width: 420, Height: 390})
	}
	// PNG sources: opaque 8-bit ones take our path, alpha stays libvips'.
	add("png cover", encodePNG(t, 333, 251, false), Params{Width: 120, Height: 77})
	add("png enlarge", encodePNG(t, 120, 90, false), Params{Width: 301, Height: 200, Fit: FitInside})
	add("gray png", encodeVariant(t, "gray png", 200, 150), Params{Width: 77})
	cases = append(cases, reduceCase{name: "png with alpha", src: encodePNG(t, 333, 251, true), prm: Params{Width: 120, Height: 77, Format: FormatPNG}, libvips: true})
	add("thin source enlarge cover", noisyJPEG(t, 400, 3, false), Params{Width: 300, Height: 300})
	// Random sizes and fits, reducing and enlarging, both axes.
	rnd := rand.New(rand.NewPCG(1, 2))
	fits := []string{FitCover, FitContain, FitInside, FitOutside, FitFill}
	for i := range 12 {
		src := rgb
		if i%3 == 0 {
			src = gray
		}
		prm := Params{Width: 1 + rnd.IntN(700), Height: 1 + rnd.IntN(700), Fit: fits[rnd.IntN(len(fits))]}
		prm.Format = FormatPNG
		cases = append(cases, reduceCase{name: fmt.Sprintf("random %d", i), src: src, prm: prm, either: true})
	}
	// Shrink-on-load first: 1600 → 1/4 → 400, then 400 → 123.
	add("shrink on load", noisyJPEG(t, 1600, 1100, false), Params{Width: 123, Height: 95})
	return cases
}

// TestFastReduceMatchesLibvipsC: with libvips' orc code off, libvips
// reduces with the same 12-bit arithmetic as ours, and enlarges with the
// same bicubic. Every case here comes out bit-identical; the tolerance is
// for where libvips accumulates sample positions strip by strip in floating
// point while we compute each directly, which could move a sample across a
// coefficient-table step and a pixel by one level. (The portable kernels
// equal the AVX2 ones: TestFastReduceSIMDIsExact.)
func TestFastReduceMatchesLibvipsC(t *testing.T) {
	fast := newProcessor(t, Config{Workers: 1, QueueDepth: 1, MaxPixels: 50e6, MaxOutputPixels: 50e6, MaxOutputBytes: 32 << 20})
	lib := newProcessor(t, Config{Workers: 1, QueueDepth: 1, MaxPixels: 50e6, MaxOutputPixels: 50e6, MaxOutputBytes: 32 << 20})
	lib.libvipsReduce = true
	setLibvipsVector(false)
	t.Cleanup(func() { setLibvipsVector(true) })
	for _, c := range reduceCases(t) {
		uses := fastUses()
		a, b := resizeBoth(t, fast, lib, c.src, c.prm)
		if used := fastUses() - uses; !c.either && (used != 1 && !c.libvips || used != 0 && c.libvips) {
			t.Errorf("%s: our reduction made %d images, want %d", c.name, used, map[bool]int{false: 1, true: 0}[c.libvips])
		}
		if d := compareImages(t, a, b); d.max > 1 || d.differing > 0.001 {
			t.Errorf("%s %+v: %v", c.name, c.prm, d)
		}
	}
}

// TestFastReduceSIMDIsExact: the AVX2 kernels and the portable ones give
// the same bytes.
func TestFastReduceSIMDIsExact(t *testing.T) {
	p := newProcessor(t, Config{Workers: 1, QueueDepth: 1, MaxPixels: 50e6, MaxOutputPixels: 50e6, MaxOutputBytes: 32 << 20})
	if !setReduceSIMD(true) {
		t.Skip("no AVX2 on this CPU: only the portable kernels run")
	}
	for _, c := range reduceCases(t) {
		a, _, err := p.Resize(context.Background(), c.src, c.prm)
		if err != nil {
			t.Fatal(err)
		}
		setReduceSIMD(false)
		b, _, err := p.Resize(context.Background(), c.src, c.prm)
		setReduceSIMD(true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s %+v: AVX2 and C kernels differ: %v", c.name, c.prm, compareImages(t, decodePixels(t, a), decodePixels(t, b)))
		}
	}
}

// TestFastReduceQuality compares with what libvips serves by default: its
// vertical reduction then runs in orc code with 6-bit coefficients, where
// ours (and libvips' C path) has 12. The two differ by that rounding only:
// under one level per sample on average (the worst, 0.53, on this file's
// one-pixel grid lines), a few levels at most.
func TestFastReduceQuality(t *testing.T) {
	fast := shared()
	lib := newProcessor(t, DefaultConfig())
	lib.libvipsReduce = true
	var worst diffStats
	for _, c := range reduceCases(t) {
		a, b := resizeBoth(t, fast, lib, c.src, c.prm)
		d := compareImages(t, a, b)
		if d.mean >= 1 || d.max > 8 {
			t.Errorf("%s %+v: %v", c.name, c.prm, d)
		}
		worst.mean, worst.max = math.Max(worst.mean, d.mean), max(worst.max, d.max)
	}
	t.Logf("worst mean absolute difference per sample %.4f, largest difference %d", worst.mean, worst.max)
}

// TestFastReducePhotos runs the bench's real photos (when prepared, see
// BenchmarkResizePhotos) through both paths at the bench's sizes.
func TestFastReducePhotos(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("..", ".bench", "photos", "*.jpg"))
	if len(names) == 0 {
		t.Skip("no photos in ../.bench/photos")
	}
	sort.Strings(names)
	fast := shared()
	lib := newProcessor(t, DefaultConfig())
	lib.libvipsReduce = true
	var worst float64
	for i, n := range names {
		src, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for a := i; a < i+1; a++ {
			w, h := 200+(a*389)%1000, 150+(a*211)%900
			prm := Params{Width: w, Height: h, Fit: FitCover, Format: FormatPNG}
			x, y := resizeBoth(t, fast, lib, src, prm)
			d := compareImages(t, x, y)
			worst = math.Max(worst, d.mean)
			t.Logf("%s %dx%d: %v", filepath.Base(n), w, h, d)
			if d.mean >= 1 || d.max > 8 {
				t.Errorf("%s %dx%d: %v", filepath.Base(n), w, h, d)
			}
		}
	}
	t.Logf("worst mean absolute difference per sample: %.4f", worst)
}

// TestFastReduceNoLeaks: every plan (freed with its image) and every
// per-thread sequence (row buffers) of our path is freed once Resize
// returns, on success, on a decode failure and on cancellation.
// TestNoLeaks covers libvips' own objects and memory.
func TestFastReduceNoLeaks(t *testing.T) {
	p := newProcessor(t, Config{Workers: 2, QueueDepth: 8, MaxPixels: 50e6, MaxOutputPixels: 50e6, MaxOutputBytes: 32 << 20})
	src := noisyJPEG(t, 640, 480, false)
	srcs := [][]byte{
		src,
		withOrientation(t, noisyJPEG(t, 320, 240, false), 6),
		noisyJPEG(t, 300, 200, true),
		encodePNG(t, 200, 150, false),
		src[:len(src)/2], // fails while decoding, after our image is made
	}
	uses := fastUses()
	for i := range 100 {
		prm := Params{Width: 50 + i*3, Height: 40 + (i*7)%300, Fit: []string{FitCover, FitInside, FitFill}[i%3]}
		_, _, err := p.Resize(context.Background(), srcs[i%len(srcs)], prm)
		if (err != nil) != (i%len(srcs) == len(srcs)-1) {
			t.Fatalf("resize %d: %v", i, err)
		}
	}
	// Cancelled as it starts: a big enlargement, stopped at once.
	started := make(chan struct{}, 1)
	p.beforeRun = func() { started <- struct{}{} }
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, _, err := p.Resize(ctx, src, Params{Width: 6000, Height: 4500, Format: FormatPNG})
			done <- err
		}()
		<-started
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("cancelled resize: %v, want context.Canceled", err)
		}
	}
	if used := fastUses() - uses; used < 60 {
		t.Fatalf("only %d resizes took our path", used)
	}
	// libvips' threads may free their last sequences just after a call
	// returns, and a cancelled job's worker may still be finishing.
	deadline := time.Now().Add(10 * time.Second)
	for fastLive() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d plans and sequences of our reduction still alive", fastLive())
		}
		time.Sleep(time.Millisecond)
	}
}
