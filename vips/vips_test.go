package vips

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func newProcessor(t testing.TB, cfg Config) *Processor {
	t.Helper()
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// shared is the Processor of tests that need no special configuration.
var shared = sync.OnceValue(func() *Processor {
	p, err := New(DefaultConfig(), nil)
	if err != nil {
		panic(err)
	}
	return p
})

func resize(t *testing.T, src []byte, prm Params) ([]byte, Header) {
	t.Helper()
	out, hdr, err := shared().Resize(context.Background(), src, prm)
	if err != nil {
		t.Fatalf("Resize(%+v): %v", prm, err)
	}
	return out, hdr
}

func wantCode(t *testing.T, err error, code sluice.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	var se *sluice.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *sluice.Error, want %s", err, code)
	}
	if se.Code != code {
		t.Fatalf("error %v has code %s, want %s", err, se.Code, code)
	}
}

// decodeConfig checks out with Go's own decoder, for formats it reads.
func decodeConfig(t *testing.T, out []byte, format string) (w, h int) {
	t.Helper()
	cfg, name, err := image.DecodeConfig(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("Go cannot decode the %s output: %v", format, err)
	}
	if name != format {
		t.Fatalf("Go decodes the output as %s, want %s", name, format)
	}
	return cfg.Width, cfg.Height
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no queue", func(c *Config) { c.QueueDepth = 0 }, ""},
		{"no workers", func(c *Config) { c.Workers = 0 }, "Workers"},
		{"negative queue", func(c *Config) { c.QueueDepth = -1 }, "QueueDepth"},
		{"zero max pixels", func(c *Config) { c.MaxPixels = 0 }, "MaxPixels"},
		{"zero max output pixels", func(c *Config) { c.MaxOutputPixels = 0 }, "MaxOutputPixels"},
		{"zero max output bytes", func(c *Config) { c.MaxOutputBytes = 0 }, "MaxOutputBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.want)
			}
			if _, err := New(cfg, nil); (err != nil) != (tt.want != "") {
				t.Fatalf("New error = %v, want error %v", err, tt.want != "")
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Workers < 1 || c.QueueDepth != 4*c.Workers || c.MaxPixels != 50_000_000 ||
		c.MaxOutputPixels != 50_000_000 || c.MaxOutputBytes != 32<<20 {
		t.Fatalf("DefaultConfig = %+v", c)
	}
}

func TestProbe(t *testing.T) {
	webp, _ := resize(t, encodePNG(t, 120, 80, true), Params{Format: FormatWebP})
	avif, _ := resize(t, encodeJPEG(t, 120, 80), Params{Format: FormatAVIF})
	tests := []struct {
		name string
		src  []byte
		want Header
	}{
		{"jpeg", encodeJPEG(t, 300, 200), Header{Width: 300, Height: 200, Pages: 1, Format: FormatJPEG, Orientation: 1}},
		{"jpeg rotated", withOrientation(t, encodeJPEG(t, 100, 50), 6), Header{Width: 100, Height: 50, Pages: 1, Format: FormatJPEG, Orientation: 6}},
		{"png", encodePNG(t, 64, 32, false), Header{Width: 64, Height: 32, Pages: 1, Format: FormatPNG, Orientation: 1}},
		{"png alpha", encodePNG(t, 64, 32, true), Header{Width: 64, Height: 32, Pages: 1, Format: FormatPNG, Orientation: 1, HasAlpha: true}},
		{"animated gif", animatedGIF(t, 40, 30), Header{Width: 40, Height: 30, Pages: 3, Format: FormatGIF, Orientation: 1}},
		{"webp", webp, Header{Width: 120, Height: 80, Pages: 1, Format: FormatWebP, Orientation: 1, HasAlpha: true}},
		{"avif", avif, Header{Width: 120, Height: 80, Pages: 1, Format: FormatAVIF, Orientation: 1}},
		{"tiff", uncompressedTIFF(30, 20), Header{Width: 30, Height: 20, Pages: 1, Format: FormatTIFF, Orientation: 1}},
		{"bomb", pngBomb(t, 20000, 20000), Header{Width: 20000, Height: 20000, Pages: 1, Format: FormatPNG, Orientation: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shared().Probe(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Probe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResizeFits(t *testing.T) {
	landscape := encodeJPEG(t, 400, 200)
	portrait := encodePNG(t, 200, 400, false)
	tests := []struct {
		name         string
		src          []byte
		prm          Params
		wantW, wantH int
	}{
		{"cover", landscape, Params{Width: 100, Height: 100, Fit: FitCover}, 100, 100},
		{"default fit is cover", landscape, Params{Width: 120, Height: 90}, 120, 90},
		{"cover enlarges", landscape, Params{Width: 800, Height: 800, Fit: FitCover}, 800, 800},
		{"cover portrait", portrait, Params{Width: 300, Height: 100, Fit: FitCover}, 300, 100},
		{"width only", landscape, Params{Width: 100}, 100, 50},
		{"height only", landscape, Params{Height: 100}, 200, 100},
		{"width only fill", landscape, Params{Width: 100, Fit: FitFill}, 100, 50},
		{"height only portrait", portrait, Params{Height: 100}, 50, 100},
		{"inside", landscape, Params{Width: 100, Height: 100, Fit: FitInside}, 100, 50},
		{"inside portrait", portrait, Params{Width: 100, Height: 100, Fit: FitInside}, 50, 100},
		{"inside enlarges", landscape, Params{Width: 800, Height: 800, Fit: FitInside}, 800, 400},
		{"inside tall box", landscape, Params{Width: 100, Height: 1000, Fit: FitInside}, 100, 50},
		{"outside", landscape, Params{Width: 100, Height: 100, Fit: FitOutside}, 200, 100},
		{"outside portrait", portrait, Params{Width: 100, Height: 100, Fit: FitOutside}, 100, 200},
		{"outside wide box", landscape, Params{Width: 300, Height: 50, Fit: FitOutside}, 300, 150},
		{"contain", landscape, Params{Width: 100, Height: 100, Fit: FitContain}, 100, 100},
		{"contain portrait", portrait, Params{Width: 100, Height: 100, Fit: FitContain}, 100, 100},
		{"fill", landscape, Params{Width: 100, Height: 100, Fit: FitFill}, 100, 100},
		{"fill stretches", portrait, Params{Width: 300, Height: 50, Fit: FitFill}, 300, 50},
		{"no resize", landscape, Params{}, 400, 200},
		{"no resize png", portrait, Params{Fit: FitContain}, 200, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, hdr, err := shared().Resize(context.Background(), tt.src, tt.prm)
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Width != tt.wantW || hdr.Height != tt.wantH || hdr.Pages != 1 {
				t.Fatalf("Resize header %dx%d pages %d, want %dx%d", hdr.Width, hdr.Height, hdr.Pages, tt.wantW, tt.wantH)
			}
			probed, err := shared().Probe(out)
			if err != nil {
				t.Fatal(err)
			}
			if probed.Width != tt.wantW || probed.Height != tt.wantH || probed.Format != hdr.Format {
				t.Fatalf("Probe of output %+v, want %dx%d %s", probed, tt.wantW, tt.wantH, hdr.Format)
			}
			w, h := decodeConfig(t, out, hdr.Format)
			if w != tt.wantW || h != tt.wantH {
				t.Fatalf("decoded %dx%d, want %dx%d", w, h, tt.wantW, tt.wantH)
			}
		})
	}
}

func TestCoverCropsTheCentre(t *testing.T) {
	// 400x100 gradient -> 100x100 cover keeps x in [150, 250): red from
	// about 95 to 159; a crop at either edge would reach 0 or 255.
	out, _ := resize(t, encodeGradientPNG(t, 400, 100), Params{Width: 100, Height: 100, Fit: FitCover, Format: FormatPNG})
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	red := func(x int) int { r, _, _, _ := img.At(x, 50).RGBA(); return int(r >> 8) }
	if l, r := red(0), red(99); l < 85 || l > 105 || r < 150 || r > 170 {
		t.Fatalf("cover crop edges have red %d and %d, want about 95 and 159", l, r)
	}
}

func TestContainPadding(t *testing.T) {
	src := encodeJPEG(t, 400, 200) // 100x50 inside a 100x100 box: 25 rows of padding top and bottom
	t.Run("jpeg pads white", func(t *testing.T) {
		out, _ := resize(t, src, Params{Width: 100, Height: 100, Fit: FitContain, Format: FormatJPEG})
		img, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		for _, y := range []int{2, 97} {
			r, g, b, _ := img.At(50, y).RGBA()
			if r>>8 < 245 || g>>8 < 245 || b>>8 < 245 {
				t.Fatalf("padding at y=%d is %d,%d,%d, want white", y, r>>8, g>>8, b>>8)
			}
		}
	})
	t.Run("png pads transparent", func(t *testing.T) {
		out, hdr := resize(t, src, Params{Width: 100, Height: 100, Fit: FitContain, Format: FormatPNG})
		if !hdr.HasAlpha {
			t.Fatal("contain output to png has no alpha")
		}
		img, err := png.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, a := img.At(50, 2).RGBA(); a != 0 {
			t.Fatalf("padding alpha %d, want 0", a)
		}
		if _, _, _, a := img.At(50, 50).RGBA(); a != 0xffff {
			t.Fatalf("image alpha %d, want opaque", a)
		}
	})
}

func TestFormatConversion(t *testing.T) {
	webp, _ := resize(t, encodeJPEG(t, 160, 120), Params{Format: FormatWebP})
	avif, _ := resize(t, encodeJPEG(t, 160, 120), Params{Format: FormatAVIF})
	sources := map[string][]byte{
		FormatJPEG: encodeJPEG(t, 160, 120),
		FormatPNG:  encodePNG(t, 160, 120, true),
		FormatGIF:  animatedGIF(t, 160, 120),
		FormatWebP: webp,
		FormatAVIF: avif,
		FormatTIFF: uncompressedTIFF(160, 120),
	}
	goDecodes := map[string]bool{FormatJPEG: true, FormatPNG: true, FormatGIF: true}
	for from, src := range sources {
		for _, to := range []string{"", FormatJPEG, FormatPNG, FormatWebP, FormatAVIF, FormatGIF} {
			t.Run(from+" to "+to, func(t *testing.T) {
				want := to
				if want == "" {
					want = from
					if from == FormatTIFF {
						want = FormatJPEG
					}
				}
				out, hdr := resize(t, src, Params{Width: 80, Height: 60, Format: to})
				probed, err := shared().Probe(out)
				if err != nil {
					t.Fatal(err)
				}
				if hdr.Format != want || probed.Format != want || probed.Width != 80 || probed.Height != 60 {
					t.Fatalf("output header %+v, probed %+v, want %s 80x60", hdr, probed, want)
				}
				if goDecodes[want] {
					if w, h := decodeConfig(t, out, want); w != 80 || h != 60 {
						t.Fatalf("decoded %dx%d", w, h)
					}
				}
			})
		}
	}
}

func TestHEIFSource(t *testing.T) {
	heic, err := encodeHEVC(encodePNG(t, 96, 64, false))
	if err != nil {
		t.Skipf("this libheif cannot encode HEVC: %v", err)
	}
	h, err := shared().Probe(heic)
	if err != nil {
		t.Fatal(err)
	}
	if h.Format != FormatHEIF || h.Width != 96 || h.Height != 64 {
		t.Fatalf("Probe = %+v, want heif 96x64", h)
	}
	out, hdr := resize(t, heic, Params{Width: 48})
	if w, hh := decodeConfig(t, out, FormatJPEG); w != 48 || hh != 32 || hdr.Format != FormatJPEG {
		t.Fatalf("heif source with no format: %s %dx%d, want jpeg 48x32", hdr.Format, w, hh)
	}
}

func TestQuality(t *testing.T) {
	src := encodeJPEG(t, 240, 180)
	for _, format := range []string{FormatJPEG, FormatWebP, FormatAVIF} {
		t.Run(format, func(t *testing.T) {
			low, _ := resize(t, src, Params{Format: format, Quality: 10})
			def, _ := resize(t, src, Params{Format: format})
			high, _ := resize(t, src, Params{Format: format, Quality: 95})
			if !(len(low) < len(def) && len(def) < len(high)) {
				t.Fatalf("sizes q10=%d default=%d q95=%d, want increasing", len(low), len(def), len(high))
			}
		})
	}
}

func TestOrientation(t *testing.T) {
	for o := uint16(1); o <= 8; o++ {
		src := withOrientation(t, encodeJPEG(t, 100, 50), o)
		wantW, wantH := 100, 50
		if o >= 5 {
			wantW, wantH = 50, 100
		}
		for _, prm := range []Params{{}, {Width: wantW / 2}, {Width: 20, Height: 20, Fit: FitInside, Format: FormatPNG}} {
			out, hdr := resize(t, src, prm)
			probed, err := shared().Probe(out)
			if err != nil {
				t.Fatal(err)
			}
			ww, wh := wantW, wantH
			switch {
			case prm.Width == wantW/2:
				ww, wh = wantW/2, wantH/2
			case prm.Fit == FitInside:
				ww, wh = wantW*20/max(wantW, wantH), wantH*20/max(wantW, wantH)
			}
			if hdr.Width != ww || hdr.Height != wh || probed.Width != ww || probed.Height != wh || probed.Orientation != 1 || hdr.Orientation != 1 {
				t.Fatalf("orientation %d %+v: header %+v probed %+v, want %dx%d orientation 1", o, prm, hdr, probed, ww, wh)
			}
		}
	}
}

func TestMetadataStripped(t *testing.T) {
	src := withOrientation(t, encodeJPEG(t, 100, 50), 6)
	if !bytes.Contains(src, []byte("Exif\x00\x00")) {
		t.Fatal("test source has no EXIF")
	}
	for _, format := range []string{FormatJPEG, FormatPNG, FormatWebP, FormatAVIF} {
		t.Run(format, func(t *testing.T) {
			for _, prm := range []Params{{Format: format}, {Width: 30, Format: format}} {
				out, _ := resize(t, src, prm)
				for _, marker := range []string{"Exif", "eXIf", "EXIF"} {
					if bytes.Contains(out, []byte(marker)) {
						t.Fatalf("%+v output contains %q", prm, marker)
					}
				}
			}
		})
	}
}

func TestAnimated(t *testing.T) {
	src := animatedGIF(t, 120, 60)
	frameColor := func(t *testing.T, img image.Image) [3]uint32 {
		b := img.Bounds()
		r, g, bl, _ := img.At(b.Dx()/2, b.Dy()/2).RGBA()
		return [3]uint32{r >> 8, g >> 8, bl >> 8}
	}
	wantColors := [][3]uint32{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}}
	t.Run("first frame by default", func(t *testing.T) {
		for _, prm := range []Params{{Width: 60}, {Width: 30, Height: 30}, {}} {
			out, hdr := resize(t, src, prm)
			g, err := gif.DecodeAll(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Image) != 1 || hdr.Pages != 1 {
				t.Fatalf("%+v: %d frames (header %d), want 1", prm, len(g.Image), hdr.Pages)
			}
			if diff := cmp.Diff(wantColors[0], frameColor(t, g.Image[0])); diff != "" {
				t.Fatalf("first frame colour (-want +got):\n%s", diff)
			}
		}
	})
	t.Run("every frame when asked", func(t *testing.T) {
		for _, fit := range []string{FitCover, FitContain, FitInside, FitOutside, FitFill} {
			out, hdr := resize(t, src, Params{Width: 40, Height: 40, Fit: fit, Animated: true})
			g, err := gif.DecodeAll(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			wantW, wantH := 40, 40
			switch fit {
			case FitInside:
				wantH = 20
			case FitOutside:
				wantW = 80
			}
			if len(g.Image) != 3 || hdr.Pages != 3 || g.Config.Width != wantW || g.Config.Height != wantH ||
				hdr.Width != wantW || hdr.Height != wantH {
				t.Fatalf("%s: %d frames of %dx%d (header %+v), want 3 of %dx%d", fit, len(g.Image), g.Config.Width, g.Config.Height, hdr, wantW, wantH)
			}
			// GIF quantisation moves colours a little (frames with
			// transparent padding come out as 16,239,0 for pure green).
			for i, f := range g.Image {
				got := frameColor(t, f)
				for c := range got {
					if d := int(got[c]) - int(wantColors[i][c]); d < -32 || d > 32 {
						t.Fatalf("%s: frame %d has colour %v, want about %v", fit, i, got, wantColors[i])
					}
				}
			}
		}
	})
	t.Run("animated webp", func(t *testing.T) {
		out, hdr := resize(t, src, Params{Width: 40, Format: FormatWebP, Animated: true})
		probed, err := shared().Probe(out)
		if err != nil {
			t.Fatal(err)
		}
		if probed.Pages != 3 || probed.Width != 40 || probed.Height != 20 || hdr.Pages != 3 {
			t.Fatalf("probed %+v header %+v, want 3 pages of 40x20", probed, hdr)
		}
		// And back: animated webp to gif keeps the frames too.
		back, hdr := resize(t, out, Params{Format: FormatGIF, Animated: true})
		g, err := gif.DecodeAll(bytes.NewReader(back))
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Image) != 3 || hdr.Pages != 3 {
			t.Fatalf("webp to gif: %d frames, want 3", len(g.Image))
		}
		first, hdr := resize(t, out, Params{Format: FormatGIF})
		if g, err = gif.DecodeAll(bytes.NewReader(first)); err != nil || len(g.Image) != 1 || hdr.Pages != 1 {
			t.Fatalf("animated webp without Animated: %v, header %+v", err, hdr)
		}
	})
	t.Run("formats without animation get the first frame", func(t *testing.T) {
		for _, format := range []string{FormatPNG, FormatJPEG, FormatAVIF} {
			out, hdr := resize(t, src, Params{Width: 40, Format: format, Animated: true})
			probed, err := shared().Probe(out)
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Pages != 1 || probed.Pages != 1 || probed.Height != 20 {
				t.Fatalf("%s: probed %+v, want one 40x20 page", format, probed)
			}
		}
	})
}

func TestLimits(t *testing.T) {
	p := shared()
	t.Run("bomb refused from the header", func(t *testing.T) {
		bomb := pngBomb(t, 20000, 20000)
		memBefore, _, _ := libvipsUsage()
		_, _, err := p.Resize(context.Background(), bomb, Params{Width: 100, Height: 100})
		wantCode(t, err, ErrImageTooLarge)
		if !strings.Contains(err.Error(), "50000000") {
			t.Fatalf("message %q does not name the limit", err)
		}
		if memAfter, _, _ := libvipsUsage(); memAfter != memBefore {
			t.Fatalf("libvips memory went from %d to %d", memBefore, memAfter)
		}
	})
	t.Run("configured source limit", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxPixels = 100 * 100
		small := newProcessor(t, cfg)
		_, _, err := small.Resize(context.Background(), encodeJPEG(t, 101, 100), Params{Width: 10})
		wantCode(t, err, ErrImageTooLarge)
		if _, _, err := small.Resize(context.Background(), encodeJPEG(t, 100, 100), Params{Width: 10}); err != nil {
			t.Fatalf("image at the limit: %v", err)
		}
		// All frames count when the animation is kept.
		_, _, err = small.Resize(context.Background(), animatedGIF(t, 80, 80), Params{Width: 10, Animated: true})
		wantCode(t, err, ErrImageTooLarge)
		if _, _, err := small.Resize(context.Background(), animatedGIF(t, 80, 80), Params{Width: 10}); err != nil {
			t.Fatalf("first frame of an animation under the limit: %v", err)
		}
	})
	t.Run("output pixels", func(t *testing.T) {
		_, _, err := p.Resize(context.Background(), encodeJPEG(t, 40, 40), Params{Width: 10000, Height: 10000})
		wantCode(t, err, ErrImageOutputTooLarge)
		// One side given: the other follows the aspect ratio, 100000 x 1000000.
		_, _, err = p.Resize(context.Background(), encodePNG(t, 1, 10, false), Params{Height: 1000000, Format: FormatPNG})
		wantCode(t, err, ErrImageOutputTooLarge)
	})
	t.Run("tall animation within the format's frame size", func(t *testing.T) {
		// Three 20x9000 frames: the strip libvips holds is 27000 high, each
		// WebP frame only 9000.
		out, hdr, err := p.Resize(context.Background(), animatedGIF(t, 10, 4500), Params{Height: 9000, Format: FormatWebP, Animated: true})
		if err != nil {
			t.Fatal(err)
		}
		probed, err := p.Probe(out)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Pages != 3 || probed.Pages != 3 || probed.Width != 20 || probed.Height != 9000 {
			t.Fatalf("header %+v, probed %+v, want 3 frames of 20x9000", hdr, probed)
		}
	})
	t.Run("output dimension of the format", func(t *testing.T) {
		_, _, err := p.Resize(context.Background(), encodeJPEG(t, 40, 4), Params{Width: 20000, Format: FormatWebP})
		wantCode(t, err, ErrImageOutputTooLarge)
	})
	t.Run("output bytes", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxOutputBytes = 200
		tiny := newProcessor(t, cfg)
		_, _, err := tiny.Resize(context.Background(), encodeJPEG(t, 400, 300), Params{Format: FormatPNG})
		wantCode(t, err, ErrImageOutputTooLarge)
	})
}

func TestBrokenInput(t *testing.T) {
	jpg := encodeJPEG(t, 300, 200)
	pngb := encodePNG(t, 300, 200, false)
	gifb := animatedGIF(t, 50, 50)
	rnd := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(r.UintN(256))
	}
	// 12-bit samples: this libjpeg reads only 8.
	badPrecision := bytes.Clone(jpg)
	sof := bytes.Index(badPrecision, []byte{0xFF, 0xC0})
	badPrecision[sof+4] = 12
	tests := []struct {
		name      string
		src       []byte
		probeCode sluice.Code // "" = Probe succeeds (the header is intact)
		code      sluice.Code
	}{
		{"empty", nil, ErrInvalidImage, ErrInvalidImage},
		{"random bytes", rnd, ErrUnsupportedImage, ErrUnsupportedImage},
		{"text", []byte("hello, this is not an image"), ErrUnsupportedImage, ErrUnsupportedImage},
		{"svg is not accepted", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`), ErrUnsupportedImage, ErrUnsupportedImage},
		{"jpeg magic only", jpg[:4], ErrInvalidImage, ErrInvalidImage},
		{"truncated jpeg", jpg[:len(jpg)/2], "", ErrInvalidImage},
		{"jpeg with 12-bit samples", badPrecision, ErrInvalidImage, ErrInvalidImage},
		{"truncated png", pngb[:len(pngb)/2], "", ErrInvalidImage},
		{"png header only", pngb[:40], ErrInvalidImage, ErrInvalidImage},
		{"gif truncated in the first frame", gifb[:len(gifb)/3], "", ErrInvalidImage},
		{"gif without frames", gifb[:len(gifb)/6], ErrInvalidImage, ErrInvalidImage},
		{"zero-size png", pngBomb(t, 0, 0), ErrInvalidImage, ErrInvalidImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := shared().Probe(tt.src)
			if tt.probeCode == "" {
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
			} else {
				wantCode(t, err, tt.probeCode)
			}
			_, _, err = shared().Resize(context.Background(), tt.src, Params{Width: 50, Height: 50})
			wantCode(t, err, tt.code)
		})
	}
}

func TestInvalidParams(t *testing.T) {
	src := encodeJPEG(t, 100, 100)
	tests := []struct {
		name string
		prm  Params
	}{
		{"unknown fit", Params{Width: 10, Fit: "stretch"}},
		{"unknown format", Params{Width: 10, Format: "bmp"}},
		{"read-only format", Params{Width: 10, Format: FormatTIFF}},
		{"quality too high", Params{Width: 10, Quality: 101}},
		{"negative quality", Params{Width: 10, Quality: -1}},
		{"negative width", Params{Width: -1}},
		{"huge height", Params{Height: maxSide + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := shared().Resize(context.Background(), src, tt.prm)
			wantCode(t, err, sluice.ErrInvalidArgument)
		})
	}
}

// blockedProcessor has one worker and a queue of one; the worker stops on
// its next job until release is closed. entered receives once per job.
func blockedProcessor(t *testing.T) (p *Processor, entered chan struct{}, release chan struct{}) {
	cfg := DefaultConfig()
	cfg.Workers, cfg.QueueDepth = 1, 1
	p = newProcessor(t, cfg)
	entered, release = make(chan struct{}, 10), make(chan struct{})
	p.beforeRun = func() {
		entered <- struct{}{}
		<-release
	}
	return p, entered, release
}

func waitQueued(t *testing.T, p *Processor, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(p.jobs) != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d jobs, want %d", len(p.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueueFull(t *testing.T) {
	p, entered, release := blockedProcessor(t)
	src := encodeJPEG(t, 200, 100)
	type res struct {
		hdr Header
		err error
	}
	first, second := make(chan res, 1), make(chan res, 1)
	go func() {
		_, hdr, err := p.Resize(context.Background(), src, Params{Width: 20})
		first <- res{hdr, err}
	}()
	<-entered // the worker holds the first job
	go func() {
		_, hdr, err := p.Resize(context.Background(), src, Params{Width: 40})
		second <- res{hdr, err}
	}()
	waitQueued(t, p, 1)

	_, _, err := p.Resize(context.Background(), src, Params{Width: 30})
	wantCode(t, err, sluice.ErrSlowDown)

	close(release)
	for i, ch := range []chan res{first, second} {
		r := <-ch
		if r.err != nil || r.hdr.Width != 20*(i+1) {
			t.Fatalf("job %d: %+v", i+1, r)
		}
	}
	// With the queue drained, work is accepted again.
	if _, hdr, err := p.Resize(context.Background(), src, Params{Width: 50}); err != nil || hdr.Width != 50 {
		t.Fatalf("after the queue drained: %+v %v", hdr, err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	p, entered, release := blockedProcessor(t)
	src := encodeJPEG(t, 200, 100)
	firstDone := make(chan error, 1)
	go func() {
		_, _, err := p.Resize(context.Background(), src, Params{Width: 20})
		firstDone <- err
	}()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() {
		_, _, err := p.Resize(ctx, src, Params{Width: 40})
		queued <- err
	}()
	waitQueued(t, p, 1)
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued Resize after cancel = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	// The worker skips the cancelled job rather than resizing for nobody;
	// it passes through beforeRun once for it, then serves new work.
	deadline := time.Now().Add(10 * time.Second)
	for len(p.jobs) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("cancelled job never left the queue")
		}
		time.Sleep(time.Millisecond)
	}
	if _, hdr, err := p.Resize(context.Background(), src, Params{Width: 50}); err != nil || hdr.Width != 50 {
		t.Fatalf("after cancel: %+v %v", hdr, err)
	}

	done, stop := context.WithCancel(context.Background())
	stop()
	if _, _, err := p.Resize(done, src, Params{Width: 10}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Resize with an ended ctx = %v", err)
	}
}

func TestClose(t *testing.T) {
	p, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = p.Resize(context.Background(), encodeJPEG(t, 10, 10), Params{Width: 5})
	wantCode(t, err, sluice.ErrServiceUnavailable)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueDepth = 64
	p := newProcessor(t, cfg)
	srcs := [][]byte{encodeJPEG(t, 300, 200), encodePNG(t, 200, 300, true), animatedGIF(t, 100, 100)}
	var wg sync.WaitGroup
	errs := make(chan error, 48)
	for i := range 48 {
		wg.Go(func() {
			w := 20 + i
			_, hdr, err := p.Resize(context.Background(), srcs[i%len(srcs)], Params{Width: w, Height: w, Format: []string{"", FormatWebP, FormatPNG}[i%3]})
			if err == nil && (hdr.Width != w || hdr.Height != w) {
				err = errors.New("wrong size")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNoLeaks(t *testing.T) {
	p := shared()
	jobs := []struct {
		src []byte
		prm Params
	}{
		{encodeJPEG(t, 300, 200), Params{Width: 100, Height: 100}},
		{encodeJPEG(t, 300, 200), Params{Width: 100, Height: 100, Fit: FitContain, Format: FormatPNG}},
		{encodePNG(t, 200, 300, true), Params{Width: 50, Format: FormatWebP}},
		{encodePNG(t, 200, 300, true), Params{Width: 64, Height: 64, Fit: FitContain, Format: FormatJPEG}},
		{animatedGIF(t, 80, 80), Params{Width: 40, Height: 30, Animated: true}},
		{animatedGIF(t, 80, 80), Params{Width: 40, Height: 30, Fit: FitContain, Animated: true}},
		{withOrientation(t, encodeJPEG(t, 100, 50), 6), Params{}},
		{withOrientation(t, encodeJPEG(t, 300, 200), 6), Params{Width: 70, Height: 90}}, // our reduction, rotated
		{encodeVariant(t, "gray", 300, 200), Params{Width: 50, Height: 50, Fit: FitInside}},
		{encodeJPEG(t, 64, 64), Params{Format: FormatAVIF}},
		{encodeJPEG(t, 300, 200)[:3000], Params{Width: 10}}, // fails while decoding
		{pngBomb(t, 20000, 20000), Params{Width: 10}},       // refused
		{[]byte("not an image"), Params{Width: 10}},         // refused
	}
	run := func() {
		for _, j := range jobs {
			p.Resize(context.Background(), j.src, j.prm)
			p.Probe(j.src)
		}
	}
	run() // libvips sets up per-format state on first use
	mem, allocs, objects := libvipsUsage()
	for range 200 / len(jobs) {
		run()
	}
	// libvips' threads may free their last buffers just after a call returns.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mem2, allocs2, objects2 := libvipsUsage()
		if mem2 == mem && allocs2 == allocs && objects2 == objects {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("libvips after %d calls: memory %d -> %d, allocations %d -> %d, objects %d -> %d",
				200/len(jobs)*len(jobs), mem, mem2, allocs, allocs2, objects, objects2)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPixelLayouts(t *testing.T) {
	layouts := map[string][]byte{
		"gray jpeg":    encodeVariant(t, "gray", 120, 60),
		"16-bit png":   encodeVariant(t, "rgba64", 120, 60),
		"paletted png": encodeVariant(t, "paletted", 120, 60),
		"gray png":     encodePNG(t, 120, 60, false),
		"tiff":         uncompressedTIFF(120, 60),
		"animated gif": animatedGIF(t, 120, 60),
		"rotated jpeg": withOrientation(t, encodeJPEG(t, 60, 120), 8),
	}
	for name, src := range layouts {
		for _, fit := range []string{FitCover, FitContain, FitInside, FitOutside, FitFill} {
			for _, format := range []string{FormatJPEG, FormatPNG, FormatWebP, FormatGIF} {
				out, hdr := resize(t, src, Params{Width: 50, Height: 40, Fit: fit, Format: format})
				probed, err := shared().Probe(out)
				if err != nil {
					t.Fatalf("%s %s %s: %v", name, fit, format, err)
				}
				wantW, wantH := 50, 40
				switch fit {
				case FitInside:
					wantH = 25
				case FitOutside:
					wantW = 80
				}
				if probed.Width != wantW || probed.Height != wantH || hdr.Width != wantW || hdr.Height != wantH {
					t.Fatalf("%s %s %s: %dx%d, want %dx%d", name, fit, format, probed.Width, probed.Height, wantW, wantH)
				}
				if fit == FitContain && format != FormatJPEG && !probed.HasAlpha {
					t.Fatalf("%s contain %s has no alpha for its padding", name, format)
				}
			}
		}
	}
}

func TestJPEGShrinkOnLoad(t *testing.T) {
	big := encodeJPEG(t, 1600, 1200)
	rotated := withOrientation(t, encodeJPEG(t, 1600, 800), 6) // 800x1600 upright
	tests := []struct {
		name         string
		src          []byte
		prm          Params
		shrink       int // what jpegShrink picks
		wantW, wantH int
	}{
		{"cover shrink 8 -> 4", big, Params{Width: 200, Height: 150}, 4, 200, 150},
		{"cover shrink 10.7 -> 8", big, Params{Width: 150, Height: 100}, 8, 150, 100},
		{"width shrink 16", big, Params{Width: 100}, 8, 100, 75},
		{"contain shrink 5.3 -> 4", big, Params{Width: 300, Height: 300, Fit: FitContain}, 4, 300, 300},
		{"inside shrink 3.2 -> 2", big, Params{Width: 500, Height: 500, Fit: FitInside}, 2, 500, 375},
		{"outside shrink 4 -> 2", big, Params{Width: 100, Height: 300, Fit: FitOutside}, 2, 400, 300},
		{"fill", big, Params{Width: 97, Height: 301, Fit: FitFill}, 2, 97, 301},
		{"no shrink under 2", big, Params{Width: 1000}, 1, 1000, 750},
		{"rotated shrink 13.3 -> 8", rotated, Params{Width: 60}, 8, 60, 120},
		{"rotated cover shrink 8.9 -> 4", rotated, Params{Width: 90, Height: 90}, 4, 90, 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, err := shared().Probe(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			sw, sh := hdr.Width, hdr.Height
			if hdr.Orientation >= 5 {
				sw, sh = sh, sw
			}
			fit := tt.prm.Fit
			if fit == "" {
				fit = FitCover
			}
			if got := jpegShrink(sw, sh, tt.prm.Width, tt.prm.Height, fit); got != tt.shrink {
				t.Fatalf("jpegShrink = %d, want %d", got, tt.shrink)
			}
			out, h := resize(t, tt.src, tt.prm)
			if w, hh := decodeConfig(t, out, FormatJPEG); w != tt.wantW || hh != tt.wantH || h.Width != tt.wantW || h.Height != tt.wantH {
				t.Fatalf("got %dx%d (header %dx%d), want %dx%d", w, hh, h.Width, h.Height, tt.wantW, tt.wantH)
			}
		})
	}
}

func TestCancelWhileRunning(t *testing.T) {
	p := shared()
	src := encodeJPEG(t, 1600, 1200)
	// 36 megapixels of PNG: seconds of work, far longer than the cancel takes.
	hdr, err := p.Probe(src)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := p.plan(hdr, Params{Width: 6000, Height: 6000, Fit: FitFill, Format: FormatPNG})
	if err != nil {
		t.Fatal(err)
	}
	mem, _, objects := libvipsUsage()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := p.run(&job{ctx: ctx, src: src, prm: cp})
		done <- err
	}()
	// libvips holds tracked pixel buffers only while it computes.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m, _, _ := libvipsUsage(); m > mem {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("resize ended before it was cancelled: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("libvips never started computing")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run after cancel = %v, want context.Canceled", err)
	}
	// libvips' own threads release their pixel buffers as they wind down,
	// which may be just after run returns.
	deadline = time.Now().Add(10 * time.Second)
	for {
		m, _, o := libvipsUsage()
		if m == mem && o == objects {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a killed resize libvips holds %d bytes (was %d) and %d objects (was %d)", m, mem, o, objects)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCoverExactSizes resizes with fit=cover to awkward boxes (odd sides,
// extreme aspect ratios, one-pixel sides, enlargements, rotated sources):
// cover scales so the box is covered and then crops, so the result must be
// exactly the box and, for an opaque source, stay opaque (a side a rounding
// left short must never be padded with transparency).
func TestCoverExactSizes(t *testing.T) {
	sources := map[string][]byte{
		"jpeg 333x217":          encodeJPEG(t, 333, 217),
		"png 217x333":           encodePNG(t, 217, 333, false),
		"jpeg 1001x999 rotated": withOrientation(t, encodeJPEG(t, 1001, 999), 6),
	}
	boxes := [][2]int{{1, 1}, {1, 300}, {300, 1}, {7, 5}, {99, 101}, {216, 332}, {333, 217}, {334, 218}, {1199, 1049}, {640, 3}}
	for name, src := range sources {
		for _, box := range boxes {
			for _, format := range []string{FormatJPEG, FormatPNG} {
				t.Run(fmt.Sprintf("%s to %dx%d %s", name, box[0], box[1], format), func(t *testing.T) {
					out, hdr, err := shared().Resize(context.Background(), src, Params{Width: box[0], Height: box[1], Fit: FitCover, Format: format})
					if err != nil {
						t.Fatal(err)
					}
					if hdr.Width != box[0] || hdr.Height != box[1] || hdr.HasAlpha {
						t.Fatalf("Resize header %+v, want %dx%d without alpha", hdr, box[0], box[1])
					}
					if w, h := decodeConfig(t, out, format); w != box[0] || h != box[1] {
						t.Fatalf("decoded %dx%d, want %dx%d", w, h, box[0], box[1])
					}
				})
			}
		}
	}
}
