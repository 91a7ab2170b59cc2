package vips

// #include "bridge.h"
import "C"

import (
	"bytes"
	"unsafe"
)

// libvipsUsage reports libvips' tracked memory and allocations and its live
// objects; tests use it to prove every call releases what it takes.
func libvipsUsage() (mem uint64, allocs, objects int) {
	return uint64(C.sl_tracked_mem()), int(C.sl_tracked_allocs()), int(C.sl_live_objects())
}

// setLibvipsVector turns libvips' orc vector code on or off: off, its
// reduction is the plain C one, which ours matches pixel for pixel.
func setLibvipsVector(on bool) {
	C.sl_set_vector(cbool(on))
}

// setReduceSIMD selects our AVX2 kernels (when the CPU has AVX2) or the
// portable ones and reports the previous choice.
func setReduceSIMD(on bool) bool {
	return C.sl_set_simd(cbool(on)) != 0
}

// fastLive counts the plans and libvips-thread sequences of our reduction
// still alive: 0 once every image it made is freed.
func fastLive() int {
	return int(C.sl_fast_live())
}

// fastUses counts the images our reduction has made in this process.
func fastUses() int {
	return int(C.sl_fast_uses())
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// encodeHEVC converts an image to an HEVC-compressed HEIF for tests (cgo is
// not allowed in _test.go files).
func encodeHEVC(src []byte) ([]byte, error) {
	var out unsafe.Pointer
	var n C.size_t
	if C.sl_encode_hevc(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), &out, &n) != 0 {
		return nil, takeError()
	}
	defer C.sl_free(out)
	return bytes.Clone(unsafe.Slice((*byte)(out), int(n))), nil
}
