// Package vips owns every call into libvips: reading image headers, resizing
// with shrink-on-load, applying EXIF orientation and encoding JPEG, PNG,
// WebP, AVIF and GIF. It is the only cgo package in Sluice; the C half lives
// beside it in bridge.c, which frees every libvips object before returning
// to Go, and reduce.c, our own AVX2 resampling for the common case (an 8-bit
// sRGB or grey JPEG, or PNG without alpha, reduced or enlarged): the same
// pixels as libvips 8.14's vips_thumbnail, computed several times faster
// and only where a crop keeps them.
//
// Concurrency: a Processor is safe for concurrent use. libvips is initialised
// once per process with its operation cache off and one libvips thread per
// image; parallelism comes from the Processor's pool of Workers goroutines,
// fed by a queue of QueueDepth jobs. Resize answers SlowDown at once when the
// queue is full, so callers never pile up behind a busy pool. A Resize whose
// ctx ends returns at once; its job is skipped if still queued, or stopped
// through libvips' kill flag if running, so abandoned work frees its worker
// within a strip of pixels. Probe runs on the caller's goroutine: it reads
// the header only.
//
// Memory: src is handed to libvips without a copy and must not be modified
// while a call that received it is running; the output is copied into Go
// memory and the libvips buffer freed before Resize returns.
package vips

// #cgo pkg-config: vips
// #cgo LDFLAGS: -lm
// #include <vips/vips.h>
// #include "bridge.h"
import "C"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/sluicehq/sluice"
)

// Error codes of this package. Errors are *sluice.Error; a full queue is
// sluice.ErrSlowDown and a bad Params field sluice.ErrInvalidArgument.
const (
	// ErrImageTooLarge: the source has more pixels than MaxPixels, found from
	// its header before any pixel is decoded.
	ErrImageTooLarge sluice.Code = "ImageTooLarge"
	// ErrUnsupportedImage: not an image format we read, or an output format
	// this libvips cannot write.
	ErrUnsupportedImage sluice.Code = "UnsupportedImage"
	// ErrInvalidImage: a recognised format whose bytes are broken or truncated.
	ErrInvalidImage sluice.Code = "InvalidImage"
	// ErrImageOutputTooLarge: the result would exceed MaxOutputPixels,
	// MaxOutputBytes or the output format's largest dimension.
	ErrImageOutputTooLarge sluice.Code = "ImageOutputTooLarge"
)

// Fits, as sharp names them.
const (
	FitCover   = "cover"   // fill W x H, crop the overflow around the centre
	FitContain = "contain" // fit inside W x H, pad to exactly W x H
	FitInside  = "inside"  // as large as possible within W x H, aspect kept
	FitOutside = "outside" // as small as possible covering W x H, aspect kept
	FitFill    = "fill"    // exactly W x H, aspect ignored
)

// Formats.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatWebP = "webp"
	FormatAVIF = "avif"
	FormatGIF  = "gif"
	FormatHEIF = "heif" // read only
	FormatTIFF = "tiff" // read only
)

// Default qualities, the ones sharp uses.
const (
	DefaultJPEGQuality = 80
	DefaultWebPQuality = 80
	DefaultAVIFQuality = 50
)

const (
	// avifEffort trades size for speed: libvips' default (4) takes seconds
	// for a photo, 2 takes a fraction of that.
	avifEffort = 2
	// maxFrames bounds an animation's frame count, which per-frame work
	// (padding, encoding) scales with regardless of the pixel count.
	maxFrames = 1000
	// maxSide is libvips' own coordinate limit.
	maxSide = C.VIPS_MAX_COORD
)

var formatNames = map[C.int]string{
	C.SL_FMT_JPEG: FormatJPEG,
	C.SL_FMT_PNG:  FormatPNG,
	C.SL_FMT_WEBP: FormatWebP,
	C.SL_FMT_AVIF: FormatAVIF,
	C.SL_FMT_GIF:  FormatGIF,
	C.SL_FMT_HEIF: FormatHEIF,
	C.SL_FMT_TIFF: FormatTIFF,
}

// formatCodes maps every format name back to its code.
var formatCodes = func() map[string]C.int {
	m := make(map[string]C.int, len(formatNames))
	for c, n := range formatNames {
		m[n] = c
	}
	return m
}()

var outputFormats = map[string]C.int{
	FormatJPEG: C.SL_FMT_JPEG,
	FormatPNG:  C.SL_FMT_PNG,
	FormatWebP: C.SL_FMT_WEBP,
	FormatAVIF: C.SL_FMT_AVIF,
	FormatGIF:  C.SL_FMT_GIF,
}

// maxDimension is the largest width or height each encoder accepts.
var maxDimension = map[string]int{
	FormatJPEG: 65500,
	FormatPNG:  maxSide,
	FormatWebP: 16383,
	FormatAVIF: 16384,
	FormatGIF:  65535,
}

// Config bounds the work one Processor does.
type Config struct {
	// Workers is the number of images processed at once; default twice
	// the CPUs. One image keeps less than a core busy: its decode and
	// resize thread and its encode thread hand strips to each other, and
	// the entropy coding at the end runs alone. Two per core keep the
	// cores busy under load (measured on 2 cores with 8 concurrent
	// resizes: about 1.2x the throughput of one per core).
	Workers int
	// QueueDepth is how many Resize calls may wait for a worker before
	// SlowDown; default 4 × Workers.
	QueueDepth int
	// MaxPixels bounds the source's width × height (per frame; all frames
	// together when an animation is kept). Default 50 megapixels.
	MaxPixels int64
	// MaxOutputPixels bounds the result's width × height, all frames
	// together. Default 50 megapixels.
	MaxOutputPixels int64
	// MaxOutputBytes bounds the encoded result. Default 32 MiB.
	MaxOutputBytes int
}

// DefaultConfig returns the defaults described on Config.
func DefaultConfig() Config {
	w := 2 * runtime.NumCPU()
	return Config{
		Workers:         w,
		QueueDepth:      4 * w,
		MaxPixels:       50_000_000,
		MaxOutputPixels: 50_000_000,
		MaxOutputBytes:  32 << 20,
	}
}

// Validate reports the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.Workers < 1:
		return fmt.Errorf("vips: Workers must be at least 1, got %d", c.Workers)
	case c.QueueDepth < 0:
		return fmt.Errorf("vips: QueueDepth must not be negative, got %d", c.QueueDepth)
	case c.MaxPixels < 1:
		return fmt.Errorf("vips: MaxPixels must be at least 1, got %d", c.MaxPixels)
	case c.MaxOutputPixels < 1:
		return fmt.Errorf("vips: MaxOutputPixels must be at least 1, got %d", c.MaxOutputPixels)
	case c.MaxOutputBytes < 1:
		return fmt.Errorf("vips: MaxOutputBytes must be at least 1, got %d", c.MaxOutputBytes)
	}
	return nil
}

// Header describes an image as its header declares it.
type Header struct {
	Width, Height int // of one frame
	Pages         int // frames of an animation, images of a HEIF/TIFF; at least 1
	Format        string
	// Orientation is the EXIF orientation, 1 to 8; 1 when absent. Width and
	// Height are before it is applied. Resize reports 1: it applies it.
	Orientation int
	HasAlpha    bool
}

// Params says what Resize makes.
type Params struct {
	// Width and Height of the result; 0 keeps the aspect ratio from the
	// other side, both 0 keeps the size (orientation is still applied).
	Width, Height int
	// Fit is one of the Fit constants; "" is cover.
	Fit string
	// Format is one of jpeg, png, webp, avif, gif; "" keeps the source's
	// format (JPEG for HEIF and TIFF sources).
	Format string
	// Quality is 1 to 100 for jpeg, webp and avif; 0 is the format default.
	Quality int
	// Animated keeps every frame of an animated GIF or WebP when the output
	// is GIF or WebP; otherwise only the first frame is used.
	Animated bool
}

// Processor probes and resizes images; see the package comment.
type Processor struct {
	cfg     Config
	log     *slog.Logger
	savers  map[string]bool
	jobs    chan *job
	quit    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
	// beforeRun, when set by a test, runs on the worker before each job.
	beforeRun func()
	// libvipsReduce, set by tests, turns our own reduction off.
	libvipsReduce bool
}

type job struct {
	ctx  context.Context
	src  []byte
	prm  C.sl_params
	done chan result
}

type result struct {
	out []byte
	hdr Header
	err error
}

var (
	initOnce   sync.Once
	initErr    error
	initSavers map[string]bool
)

// New starts a Processor with cfg.Workers workers. The first call in a
// process initialises libvips.
func New(cfg Config, log *slog.Logger) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	initOnce.Do(func() {
		if C.sl_init() != 0 {
			initErr = fmt.Errorf("vips: init libvips: %s", takeError())
			return
		}
		initSavers = make(map[string]bool, len(outputFormats))
		for name, f := range outputFormats {
			initSavers[name] = C.sl_saver_works(f) != 0
		}
	})
	if initErr != nil {
		return nil, initErr
	}
	p := &Processor{
		cfg:    cfg,
		log:    log,
		savers: initSavers,
		jobs:   make(chan *job, cfg.QueueDepth),
		quit:   make(chan struct{}),
	}
	var missing []string
	for _, f := range []string{FormatJPEG, FormatPNG, FormatWebP, FormatAVIF, FormatGIF} {
		if !p.savers[f] {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		log.Warn("libvips cannot encode some formats; requests for them fail with UnsupportedImage", "formats", missing)
	}
	p.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go p.work()
	}
	return p, nil
}

// Close stops the workers once the running jobs finish. Calls waiting in the
// queue fail with ServiceUnavailable.
func (p *Processor) Close() error {
	p.closing.Do(func() { close(p.quit) })
	p.wg.Wait()
	return nil
}

// CanEncode reports whether this libvips writes format.
func (p *Processor) CanEncode(format string) bool { return p.savers[format] }

// Probe reads src's header without decoding pixels.
func (p *Processor) Probe(src []byte) (Header, error) {
	if len(src) == 0 {
		return Header{}, sluice.Errorf(ErrInvalidImage, "image is empty")
	}
	var h C.sl_header
	rc := C.sl_probe(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), &h)
	if err := codeError(rc, "read image header"); err != nil {
		return Header{}, err
	}
	return goHeader(h), nil
}

// Resize makes the image prm asks for from src. It waits for a worker, or
// fails at once with SlowDown when the queue is full; a ctx that ends first
// returns ctx's error. src is read in place, without a copy, and must not
// be modified until Resize returns. (After a return caused by ctx, a worker
// may still be reading src for a moment; changing it then is memory-safe and
// only spoils a result nobody receives.)
func (p *Processor) Resize(ctx context.Context, src []byte, prm Params) ([]byte, Header, error) {
	if err := ctx.Err(); err != nil {
		return nil, Header{}, err
	}
	hdr, err := p.Probe(src)
	if err != nil {
		return nil, Header{}, err
	}
	cp, err := p.plan(hdr, prm)
	if err != nil {
		return nil, Header{}, err
	}
	j := &job{ctx: ctx, src: src, prm: cp, done: make(chan result, 1)}
	select {
	case <-p.quit:
		return nil, Header{}, sluice.Errorf(sluice.ErrServiceUnavailable, "image processor is shut down")
	default:
	}
	select {
	case p.jobs <- j:
	default:
		return nil, Header{}, sluice.Errorf(sluice.ErrSlowDown, "too many images are being resized; retry shortly")
	}
	select {
	case r := <-j.done:
		return r.out, r.hdr, r.err
	case <-ctx.Done():
		// The worker sees the ended ctx and skips the job, or finishes it
		// and drops the result into the buffered channel.
		return nil, Header{}, ctx.Err()
	case <-p.quit:
		return nil, Header{}, sluice.Errorf(sluice.ErrServiceUnavailable, "image processor is shut down")
	}
}

func (p *Processor) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.quit:
			return
		case j := <-p.jobs:
			if p.beforeRun != nil {
				p.beforeRun()
			}
			if err := j.ctx.Err(); err != nil {
				j.done <- result{err: err}
				continue
			}
			out, hdr, err := p.run(j)
			j.done <- result{out: out, hdr: hdr, err: err}
		}
	}
}

func (p *Processor) run(j *job) ([]byte, Header, error) {
	var (
		out    unsafe.Pointer
		outLen C.size_t
		h      C.sl_header
	)
	cj := C.sl_job_new()
	cancelled := make(chan struct{})
	stop := context.AfterFunc(j.ctx, func() {
		C.sl_job_cancel(cj)
		close(cancelled)
	})
	rc := C.sl_resize(unsafe.Pointer(unsafe.SliceData(j.src)), C.size_t(len(j.src)), &j.prm, cj, &out, &outLen, &h)
	runtime.KeepAlive(j.src)
	if !stop() {
		<-cancelled // sl_job_cancel may still be using cj
	}
	C.sl_job_free(cj)
	if rc == C.SL_ERR_CANCELLED {
		takeError()
		return nil, Header{}, j.ctx.Err()
	}
	if err := codeError(rc, "resize image"); err != nil {
		return nil, Header{}, err
	}
	defer C.sl_free(out)
	if uint64(outLen) > uint64(p.cfg.MaxOutputBytes) {
		return nil, Header{}, sluice.Errorf(ErrImageOutputTooLarge,
			"resized image is %d bytes, more than the limit of %d bytes", uint64(outLen), p.cfg.MaxOutputBytes)
	}
	hdr := goHeader(h)
	if int64(hdr.Width)*int64(hdr.Height)*int64(hdr.Pages) > p.cfg.MaxOutputPixels {
		return nil, Header{}, sluice.Errorf(ErrImageOutputTooLarge,
			"resized image is %dx%d, more than the limit of %d pixels", hdr.Width, hdr.Height*hdr.Pages, p.cfg.MaxOutputPixels)
	}
	encoded := unsafe.Slice((*byte)(out), int(outLen))
	if hdr.Format == FormatWebP {
		return stripWebP(encoded), hdr, nil
	}
	return bytes.Clone(encoded), hdr, nil
}

// plan checks prm against the source header and the limits, and turns it
// into the thumbnail call that produces it.
func (p *Processor) plan(hdr Header, prm Params) (C.sl_params, error) {
	var cp C.sl_params
	if prm.Width < 0 || prm.Height < 0 || prm.Width > maxSide || prm.Height > maxSide {
		return cp, sluice.Errorf(sluice.ErrInvalidArgument, "width and height must be between 0 and %d", maxSide)
	}
	fit := prm.Fit
	if fit == "" {
		fit = FitCover
	}
	switch fit {
	case FitCover, FitContain, FitInside, FitOutside, FitFill:
	default:
		return cp, sluice.Errorf(sluice.ErrInvalidArgument, "fit %q is not one of cover, contain, inside, outside, fill", prm.Fit)
	}

	format := prm.Format
	if format == "" {
		format = hdr.Format
		if format == FormatHEIF || format == FormatTIFF || !p.savers[format] {
			format = FormatJPEG
		}
	}
	fcode, ok := outputFormats[format]
	if !ok {
		return cp, sluice.Errorf(sluice.ErrInvalidArgument, "format %q is not one of jpeg, png, webp, avif, gif", prm.Format)
	}
	if !p.savers[format] {
		return cp, sluice.Errorf(ErrUnsupportedImage, "this server cannot encode %s images", format)
	}
	quality := prm.Quality
	if quality < 0 || quality > 100 {
		return cp, sluice.Errorf(sluice.ErrInvalidArgument, "quality must be between 1 and 100, got %d", quality)
	}
	if quality == 0 {
		switch format {
		case FormatWebP:
			quality = DefaultWebPQuality
		case FormatAVIF:
			quality = DefaultAVIFQuality
		default:
			quality = DefaultJPEGQuality
		}
	}

	srcPixels := int64(hdr.Width) * int64(hdr.Height)
	if srcPixels > p.cfg.MaxPixels {
		return cp, sluice.Errorf(ErrImageTooLarge,
			"image is %dx%d (%d pixels), more than the limit of %d pixels", hdr.Width, hdr.Height, srcPixels, p.cfg.MaxPixels)
	}
	animated := prm.Animated && hdr.Pages > 1 &&
		(hdr.Format == FormatGIF || hdr.Format == FormatWebP) &&
		(format == FormatGIF || format == FormatWebP)
	pages := 1
	if animated {
		pages = hdr.Pages
		if pages > maxFrames {
			return cp, sluice.Errorf(ErrImageTooLarge, "animation has %d frames, more than the limit of %d", pages, maxFrames)
		}
		if srcPixels*int64(pages) > p.cfg.MaxPixels {
			return cp, sluice.Errorf(ErrImageTooLarge,
				"animation has %d frames of %dx%d, more than the limit of %d pixels in all frames", pages, hdr.Width, hdr.Height, p.cfg.MaxPixels)
		}
	}

	// Sizes below are after the EXIF orientation, as thumbnail sees them.
	sw, sh := hdr.Width, hdr.Height
	if hdr.Orientation >= 5 && hdr.Orientation <= 8 {
		sw, sh = sh, sw
	}
	W, H := prm.Width, prm.Height
	cp.size = C.VIPS_SIZE_BOTH
	cp.crop = C.VIPS_INTERESTING_NONE
	var ow, oh int
	switch {
	case W == 0 && H == 0:
		// Only shrinking is allowed and the box is unbounded: no resize.
		cp.width, cp.height, cp.size = maxSide, maxSide, C.VIPS_SIZE_DOWN
		ow, oh = sw, sh
	case H == 0:
		cp.width, cp.height = C.int(W), maxSide
		ow, oh = W, scaled(sh, W, sw)
	case W == 0:
		cp.width, cp.height = maxSide, C.int(H)
		ow, oh = scaled(sw, H, sh), H
	default:
		// byWidth: scaling to W makes the height reach H or more.
		byWidth := int64(W)*int64(sh) >= int64(H)*int64(sw)
		switch fit {
		case FitCover:
			// Cover the box, then crop (every frame) to it. thumbnail's
			// own crop would render the whole resized image to memory
			// first; a crop afterwards only computes the pixels kept.
			ow, oh = W, H
			cp.box_w, cp.box_h, cp.cover = C.int(W), C.int(H), 1
			if byWidth {
				cp.width, cp.height = C.int(W), maxSide
			} else {
				cp.width, cp.height = maxSide, C.int(H)
			}
		case FitFill:
			cp.width, cp.height, cp.size = C.int(W), C.int(H), C.VIPS_SIZE_FORCE
			ow, oh = W, H
		case FitInside, FitContain:
			cp.width, cp.height = C.int(W), C.int(H)
			if byWidth {
				ow, oh = scaled(sw, H, sh), H
			} else {
				ow, oh = W, scaled(sh, W, sw)
			}
			if fit == FitContain {
				cp.box_w, cp.box_h = C.int(W), C.int(H)
				ow, oh = W, H
			}
		case FitOutside:
			if byWidth {
				cp.width, cp.height = C.int(W), maxSide
				ow, oh = W, scaled(sh, W, sw)
			} else {
				cp.width, cp.height = maxSide, C.int(H)
				ow, oh = scaled(sw, H, sh), H
			}
		}
	}
	if int64(ow)*int64(oh)*int64(pages) > p.cfg.MaxOutputPixels {
		return cp, sluice.Errorf(ErrImageOutputTooLarge,
			"resized image would be %dx%d, more than the limit of %d pixels", ow, oh*pages, p.cfg.MaxOutputPixels)
	}
	// Animation frames are encoded one by one: the limit is per frame.
	if m := maxDimension[format]; ow > m || oh > m {
		return cp, sluice.Errorf(ErrImageOutputTooLarge,
			"resized image would be %dx%d, more than %d pixels on a side, the most %s allows", ow, oh, m, format)
	}
	if hdr.Format == FormatJPEG {
		cp.jpeg_shrink = C.int(jpegShrink(sw, sh, prm.Width, prm.Height, fit))
	}
	if p.libvipsReduce {
		cp.no_fast = 1
	}
	cp.src_format = formatCodes[hdr.Format]
	cp.format = fcode
	cp.quality = C.int(quality)
	cp.avif_effort = avifEffort
	if animated {
		cp.animated = 1
	}
	return cp, nil
}

// jpegShrink picks the JPEG shrink-on-load factor the way sharp does by
// default (fastShrinkOnLoad): the largest of 8, 4, 2 not above the common
// shrink, halved when the shrink is exactly that integer to dodge libjpeg's
// rounding. libvips' thumbnail leaves another factor of two on top, which
// decodes up to four times the pixels for the same result size.
func jpegShrink(sw, sh, W, H int, fit string) int {
	hs, vs := float64(sw)/float64(max(W, 1)), float64(sh)/float64(max(H, 1))
	var shrink float64
	switch {
	case W == 0 && H == 0:
		return 1
	case W == 0:
		shrink = vs
	case H == 0:
		shrink = hs
	case fit == FitInside || fit == FitContain:
		shrink = max(hs, vs)
	default:
		shrink = min(hs, vs)
	}
	n := 1
	switch {
	case shrink >= 8:
		n = 8
	case shrink >= 4:
		n = 4
	case shrink >= 2:
		n = 2
	}
	if n > 1 && int(shrink) == n {
		n /= 2
	}
	return n
}

// scaled is side × num / den rounded, at least 1: the other side of an image
// scaled to keep its aspect ratio.
func scaled(side, num, den int) int {
	v := int(math.Round(float64(side) * float64(num) / float64(den)))
	return max(v, 1)
}

func goHeader(h C.sl_header) Header {
	o := int(h.orientation)
	if o < 1 || o > 8 {
		o = 1
	}
	return Header{
		Width:       int(h.width),
		Height:      int(h.height),
		Pages:       max(int(h.pages), 1),
		Format:      formatNames[h.format],
		Orientation: o,
		HasAlpha:    h.has_alpha != 0,
	}
}

func codeError(rc C.int, what string) error {
	switch rc {
	case C.SL_OK:
		return nil
	case C.SL_ERR_UNSUPPORTED:
		takeError()
		return sluice.Errorf(ErrUnsupportedImage, "not an image in a supported format (jpeg, png, webp, avif, gif, heif, tiff)")
	default:
		return sluice.Wrap(ErrInvalidImage, fmt.Errorf("%s: %s", what, takeError()), "image is broken, truncated or cannot be processed")
	}
}

// takeError returns libvips' error text and clears it. The buffer is global
// to the process: under concurrent failures a message may carry another
// call's text too, which only affects logs, never the error code.
func takeError() error {
	s := C.sl_error_take()
	if s == nil {
		return errors.New("libvips error")
	}
	defer C.sl_free(unsafe.Pointer(s))
	msg := C.GoString(s)
	if msg == "" {
		return errors.New("libvips error")
	}
	return errors.New(trimNewline(msg))
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
