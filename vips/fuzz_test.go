package vips

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"

	"github.com/sluicehq/sluice"
)

// fuzzSeeds are valid images of every format read, plus damaged copies.
func fuzzSeeds(f *testing.F) [][]byte {
	p := shared()
	jpg := encodeJPEG(f, 64, 48)
	webp, _, err := p.Resize(context.Background(), jpg, Params{Format: FormatWebP})
	if err != nil {
		f.Fatal(err)
	}
	avif, _, err := p.Resize(context.Background(), jpg, Params{Format: FormatAVIF})
	if err != nil {
		f.Fatal(err)
	}
	animWebP, _, err := p.Resize(context.Background(), animatedGIF(f, 16, 16), Params{Format: FormatWebP, Animated: true})
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		jpg,
		withOrientation(f, encodeJPEG(f, 20, 10), 6),
		encodePNG(f, 32, 16, true),
		animatedGIF(f, 16, 16),
		webp, animWebP, avif,
		uncompressedTIFF(8, 8),
		pngBomb(f, 20000, 20000),
		pngBomb(f, 0, 1),
		nil,
		[]byte("GIF89a"),
		[]byte("\x89PNG\r\n\x1a\n"),
		[]byte("\xff\xd8\xff"),
		[]byte("RIFF\x00\x00\x00\x00WEBPVP8 "),
	}
	for _, s := range seeds[:8] {
		seeds = append(seeds, s[:len(s)/2], s[:len(s)-1])
	}
	return seeds
}

// fuzzProcessor keeps each fuzz iteration small: the fuzzer easily writes
// headers that claim large but legal images.
func fuzzProcessor(f *testing.F) *Processor {
	cfg := DefaultConfig()
	cfg.MaxPixels, cfg.MaxOutputPixels = 1<<20, 1<<20
	cfg.QueueDepth = 64
	p, err := New(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	return p
}

func FuzzProbe(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	p := fuzzProcessor(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		h, err := p.Probe(src)
		if err != nil {
			checkDomainError(t, err)
			return
		}
		if h.Width < 1 || h.Height < 1 || h.Pages < 1 || h.Format == "" || h.Orientation < 1 || h.Orientation > 8 {
			t.Fatalf("Probe succeeded with header %+v", h)
		}
	})
}

func FuzzResize(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s, uint8(i))
	}
	p := fuzzProcessor(f)
	fits := []string{FitCover, FitContain, FitInside, FitOutside, FitFill}
	formats := []string{"", FormatJPEG, FormatPNG, FormatWebP, FormatGIF}
	f.Fuzz(func(t *testing.T, src []byte, sel uint8) {
		prm := Params{
			Width:    []int{0, 17, 64}[sel%3],
			Height:   []int{0, 9, 40}[(sel/3)%3],
			Fit:      fits[(sel/9)%5],
			Format:   formats[(sel/45)%5],
			Animated: sel&1 == 1,
		}
		out, h, err := p.Resize(context.Background(), src, prm)
		if err != nil {
			checkDomainError(t, err)
			return
		}
		got, err := p.Probe(out)
		if err != nil {
			t.Fatalf("output of %+v does not probe: %v", prm, err)
		}
		if got.Width != h.Width || got.Height != h.Height || got.Format != h.Format {
			t.Fatalf("Resize reported %+v, output probes as %+v", h, got)
		}
		if prm.Width > 0 && prm.Height > 0 && (prm.Fit == FitCover || prm.Fit == FitFill || prm.Fit == FitContain) &&
			(h.Width != prm.Width || h.Height != prm.Height) {
			t.Fatalf("%+v made %dx%d", prm, h.Width, h.Height)
		}
	})
}

func FuzzStripWebP(f *testing.F) {
	webp, _, err := shared().Resize(context.Background(), encodeJPEG(f, 16, 16), Params{Format: FormatWebP})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(webp)
	f.Add([]byte("RIFF\x04\x00\x00\x00WEBP"))
	f.Add([]byte("RIFF\x0e\x00\x00\x00WEBPEXIF\x01\x00\x00\x00x"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out := stripWebP(src)
		if len(out) > len(src) {
			t.Fatalf("stripped %d bytes into %d", len(src), len(out))
		}
		if bytes.Equal(out, src) {
			return
		}
		// Something was removed: the result is a RIFF whose size matches,
		// and stripping again changes nothing.
		if binary.LittleEndian.Uint32(out[4:8]) != uint32(len(out)-8) {
			t.Fatalf("RIFF size %d for %d bytes", binary.LittleEndian.Uint32(out[4:8]), len(out))
		}
		if again := stripWebP(out); !bytes.Equal(again, out) {
			t.Fatal("stripWebP is not idempotent")
		}
	})
}

func TestStripWebP(t *testing.T) {
	src, _ := resize(t, withOrientation(t, encodeJPEG(t, 40, 20), 6), Params{Format: FormatWebP})
	if bytes.Contains(src, []byte("EXIF")) || src[20]&vp8xEXIF != 0 {
		t.Fatalf("Resize left EXIF in the webp: % x", src[:32])
	}
	// A file with EXIF, XMP and ICCP chunks loses all three and its flags.
	var b bytes.Buffer
	chunk := func(fourcc string, payload []byte) {
		b.WriteString(fourcc)
		binary.Write(&b, binary.LittleEndian, uint32(len(payload)))
		b.Write(payload)
		if len(payload)%2 == 1 {
			b.WriteByte(0)
		}
	}
	b.WriteString("RIFF\x00\x00\x00\x00WEBP")
	chunk("VP8X", []byte{vp8xICC | vp8xEXIF | vp8xXMP | 0x10, 0, 0, 0, 1, 0, 0, 1, 0, 0})
	chunk("ICCP", []byte("icc"))
	chunk("ALPH", []byte("ab"))
	chunk("VP8 ", []byte("frame"))
	chunk("EXIF", []byte("Exif\x00\x00MM"))
	chunk("XMP ", []byte("<x/>"))
	in := b.Bytes()
	binary.LittleEndian.PutUint32(in[4:8], uint32(len(in)-8))
	out := stripWebP(in)
	for _, c := range []string{"ICCP", "EXIF", "XMP "} {
		if bytes.Contains(out, []byte(c)) {
			t.Fatalf("%s left in % q", c, out)
		}
	}
	if out[20] != 0x10 {
		t.Fatalf("VP8X flags %#x, want only alpha (0x10)", out[20])
	}
	if !bytes.Contains(out, []byte("ALPH\x02\x00\x00\x00ab")) || !bytes.Contains(out, []byte("VP8 \x05\x00\x00\x00frame\x00")) {
		t.Fatalf("image chunks lost: % q", out)
	}
	if int(binary.LittleEndian.Uint32(out[4:8])) != len(out)-8 {
		t.Fatal("RIFF size not updated")
	}
}

func checkDomainError(t *testing.T, err error) {
	t.Helper()
	var se *sluice.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *sluice.Error", err)
	}
	switch se.Code {
	case ErrInvalidImage, ErrUnsupportedImage, ErrImageTooLarge, ErrImageOutputTooLarge:
	default:
		t.Fatalf("unexpected code in %v", err)
	}
}

// photoJPEG is a w x h JPEG with photo-like texture: smooth gradients plus
// noise, so it costs to decode roughly what a camera picture of its size does.
func photoJPEG(b *testing.B, w, h int) []byte {
	r := rand.New(rand.NewPCG(7, 9))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := int(r.IntN(48)) - 24
			c := func(v int) uint8 { return uint8(min(max(v+n, 0), 255)) }
			img.SetRGBA(x, y, color.RGBA{c(x * 255 / w), c(y * 255 / h), c((x + y) * 127 / (w + h)), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkResize is the resize miss of the edge benchmark: a 2 MP JPEG to a
// 300x300 cover crop, one image at a time and with every worker busy.
func BenchmarkResize(b *testing.B) {
	src := photoJPEG(b, 1632, 1224)
	prm := Params{Width: 300, Height: 300, Fit: FitCover, Format: FormatJPEG}
	b.Run("serial", func(b *testing.B) {
		p := shared()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, _, err := p.Resize(context.Background(), src, prm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.QueueDepth = 1024
		p, err := New(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.SetBytes(int64(len(src)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := p.Resize(context.Background(), src, prm); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, format := range []string{FormatWebP, FormatAVIF} {
		b.Run(format, func(b *testing.B) {
			p := shared()
			prm := Params{Width: 300, Height: 300, Format: format}
			for b.Loop() {
				if _, _, err := p.Resize(context.Background(), src, prm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
