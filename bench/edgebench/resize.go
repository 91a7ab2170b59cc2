package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// photo is one prepared source image, as prepare-photos.js describes it in
// manifest.json.
type photo struct {
	File   string `json:"file"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
	// MP is the size class: 1, 2, 4 or 8 megapixels.
	MP        int    `json:"mp"`
	Source    string `json:"source"` // package and path it was made from
	Synthetic bool   `json:"synthetic"`
}

func loadManifest(dir string) ([]photo, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("photos: %w (bash bench/run.sh edge prepares them)", err)
	}
	var ps []photo
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("photos manifest: %w", err)
	}
	if len(ps) == 0 {
		return nil, errors.New("photos manifest lists no photos")
	}
	for _, p := range ps {
		if p.File == "" || strings.Contains(p.File, "/") || p.Width <= 0 || p.Height <= 0 {
			return nil, fmt.Errorf("photos manifest: bad entry %+v", p)
		}
		if _, err := os.Stat(filepath.Join(dir, p.File)); err != nil {
			return nil, fmt.Errorf("photos: %w", err)
		}
	}
	return ps, nil
}

func describePhotos(ps []photo) string {
	classes := map[int]int{}
	synth := 0
	for _, p := range ps {
		classes[p.MP]++
		if p.Synthetic {
			synth++
		}
	}
	var keys []int
	for k := range classes {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d × %d MP", classes[k], k))
	}
	s := fmt.Sprintf("%d JPEGs (%s)", len(ps), strings.Join(parts, ", "))
	if synth > 0 {
		s += fmt.Sprintf(", %d synthetic", synth)
	}
	return s
}

// resizeSize is the m-th output size of the sequence: distinct for every m
// below 900,000, widths 200–1199 and heights 150–1049, spread so that
// consecutive requests ask for very different shapes. w walks a
// permutation of 0–999 (389 is coprime with 1000), so equal widths mean
// equal m%1000; h then differs by 7·Δ(m/1000) mod 900, never 0 for
// Δ < 900 because 7 is coprime with 900.
func resizeSize(m int) (w, h int) {
	a, b := m%1000, m/1000
	return 200 + (a*389)%1000, 150 + (a*211+b*7)%900
}

// resizeRequest is request n of a server's sequence: photo n mod P at
// size m = n div P, so no (photo, size) pair ever repeats.
func resizeRequest(n int, photos []photo) (p int, w, h int) {
	p = n % len(photos)
	w, h = resizeSize(n / len(photos))
	return p, w, h
}

// jpegSize reads the frame dimensions from a JPEG's SOF marker.
func jpegSize(b []byte) (w, h int, err error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, 0, errors.New("not a JPEG (no SOI)")
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 0, 0, fmt.Errorf("JPEG: no marker at offset %d", i)
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0x01 || (m >= 0xD0 && m <= 0xD7) { // no length
			i += 2
			continue
		}
		if m == 0xD9 || m == 0xDA {
			return 0, 0, errors.New("JPEG: no SOF before the scan")
		}
		l := int(binary.BigEndian.Uint16(b[i+2:]))
		if l < 2 || i+2+l > len(b) {
			return 0, 0, fmt.Errorf("JPEG: segment length %d at offset %d overruns", l, i)
		}
		isSOF := m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
		if isSOF {
			if l < 7 {
				return 0, 0, errors.New("JPEG: short SOF")
			}
			h = int(binary.BigEndian.Uint16(b[i+5:]))
			w = int(binary.BigEndian.Uint16(b[i+7:]))
			return w, h, nil
		}
		i += 2 + l
	}
	return 0, 0, errors.New("JPEG: truncated before SOF")
}

// resizeCheck accepts a JPEG of exactly w×h; from the edge it must be a
// miss, or the cell would measure the cache instead of resizing.
func resizeCheck(edge bool, w, h int) func(response) error {
	return func(r response) error {
		if r.status != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", r.status, truncate(r.body))
		}
		if edge && !strings.HasPrefix(r.xCache, "Miss") {
			return fmt.Errorf("X-Cache %q, want a miss", r.xCache)
		}
		if !strings.HasPrefix(r.contentType, "image/jpeg") {
			return fmt.Errorf("Content-Type %q, want image/jpeg", r.contentType)
		}
		gw, gh, err := jpegSize(r.body)
		if err != nil {
			return err
		}
		if gw != w || gh != h {
			return fmt.Errorf("got %dx%d, asked for %dx%d", gw, gh, w, h)
		}
		return nil
	}
}

// runResize measures resizing on a miss, cell by cell (one per
// concurrency): sluice's edge with sluice-image-resize against the sharp
// server. Both walk the same sequence of (photo, size) requests; each
// server's position carries over from cell to cell, so that no request of
// the run repeats an earlier one (which would be a hit on the edge).
func (b *bench) runResize(ctx context.Context) ([][]result, error) {
	var targets []target
	hosts := map[string]string{}
	if b.cfg.has(srvSharp) {
		targets = append(targets, target{name: srvSharp, addr: b.sharp.Addr(), pid: b.sharp.Pid()})
		hosts[srvSharp] = b.sharp.Addr()
	}
	if b.cfg.has(srvSluice) {
		host, err := b.setupPhotos(ctx)
		if err != nil {
			return nil, err
		}
		if err := b.checkResizeWired(host); err != nil {
			return nil, err
		}
		targets = append(targets, target{name: srvSluice, addr: b.edgeAddr, pid: b.sluice.Pid()})
		hosts[srvSluice] = host
		benchkit.Logf("resize: distribution %s in front of %s (%s)", host, photosBucket, describePhotos(b.photos))
	}
	next := map[string]*atomic.Int64{}
	for _, t := range targets {
		next[t.name] = new(atomic.Int64)
	}
	gen := func(t target) func(int) job {
		ctr, host, edge := next[t.name], hosts[t.name], t.name == srvSluice
		return func(int) job {
			n := int(ctr.Add(1) - 1)
			p, w, h := resizeRequest(n, b.photos)
			return job{
				req:   getRequest(host, fmt.Sprintf("/%s?d=%dx%d", b.photos[p].File, w, h)),
				keep:  true,
				check: resizeCheck(edge, w, h),
				tag:   p,
			}
		}
	}
	var cells [][]result
	for _, conc := range b.cfg.ResizeConc {
		rs, err := b.runCell(ctx, fmt.Sprintf("resize c=%d", conc), targets, conc, b.cfg.ResizeDuration, gen)
		if err != nil {
			return nil, err
		}
		cells = append(cells, rs)
	}
	return cells, nil
}

// checkResizeWired asks the edge for one size outside the measured
// sequence, so that a missing hook fails the run with a clear message
// before any window.
func (b *bench) checkResizeWired(host string) error {
	p := b.photos[0]
	r, err := b.edgeGet(host, "/"+p.File+"?d=111x77", true)
	if err != nil {
		return fmt.Errorf("resize check: %w", err)
	}
	if err := resizeCheck(false, 111, 77)(r); err != nil {
		return fmt.Errorf("resize check (GET /%s?d=111x77 through the edge): %w", p.File, err)
	}
	return nil
}
