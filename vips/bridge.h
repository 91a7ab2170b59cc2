// The C half of package vips. Every function here takes the whole job in one
// call and releases every libvips object before it returns, so no C code
// keeps a Go pointer after the call (the cgo pointer rules) and no VipsImage
// ever crosses into Go.
#ifndef SLUICE_VIPS_BRIDGE_H
#define SLUICE_VIPS_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

// Formats, shared with the Go side (see format constants in vips.go).
enum {
	SL_FMT_UNKNOWN = 0,
	SL_FMT_JPEG = 1,
	SL_FMT_PNG = 2,
	SL_FMT_WEBP = 3,
	SL_FMT_AVIF = 4,
	SL_FMT_GIF = 5,
	SL_FMT_HEIF = 6,
	SL_FMT_TIFF = 7,
};

// Results.
enum {
	SL_OK = 0,
	SL_ERR_INVALID = 1,     // libvips could not read or process the bytes
	SL_ERR_UNSUPPORTED = 2, // no allowed loader recognises the bytes
	SL_ERR_SAVE = 3,        // the encoder failed
	SL_ERR_CANCELLED = 4,   // sl_job_cancel stopped the work
};

// An sl_job lets another thread stop a running sl_resize: cancelling sets
// libvips' kill flag on the image being computed, which fails the pipeline
// at its next region.
typedef struct sl_job sl_job;
sl_job *sl_job_new(void);
void sl_job_cancel(sl_job *job);
void sl_job_free(sl_job *job);

typedef struct {
	int width, height, pages, format, orientation, has_alpha;
} sl_header;

typedef struct {
	int width, height; // thumbnail box; VIPS_MAX_COORD for "unbounded"
	int size;          // VipsSize
	int crop;          // VipsInteresting
	// When > 0, centre every frame in a box_w x box_h box after the
	// thumbnail, padding (fit=contain) or cropping (animated fit=cover).
	int box_w, box_h;
	int cover;         // the box crops and never pads (fit=cover)
	int format;        // SL_FMT_* of the output
	int quality;
	int animated;      // load every page
	int avif_effort;
	// jpeg_shrink > 1 decodes a JPEG at 1/jpeg_shrink scale (libjpeg DCT
	// scaling), more eagerly than thumbnail's own choice.
	int jpeg_shrink;
	// no_fast turns off our own reduction (reduce.c) for libvips'.
	int no_fast;
	// src_format is the source's SL_FMT_* as sl_probe found it in the same
	// bytes, or SL_FMT_UNKNOWN to find it again.
	int src_format;
} sl_params;

int sl_init(void);
int sl_saver_works(int format);
int sl_probe(const void *buf, size_t len, sl_header *h);
int sl_resize(const void *buf, size_t len, const sl_params *p, sl_job *job,
	void **out, size_t *out_len, sl_header *h);
void sl_free(void *p);
// sl_error_take returns and clears libvips' error text; the caller frees it.
char *sl_error_take(void);
int sl_encode_hevc(const void *buf, size_t len, void **out, size_t *out_len);
// For tests: libvips' orc vector paths on or off; our AVX2 kernels on
// (when the CPU has them) or off, returning the previous setting.
void sl_set_vector(int on);
int sl_set_simd(int on);
int sl_fast_uses(void);
int sl_fast_live(void);
size_t sl_tracked_mem(void);
int sl_tracked_allocs(void);
int sl_live_objects(void);

#endif
