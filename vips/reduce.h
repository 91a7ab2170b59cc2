#ifndef SLUICE_REDUCE_H
#define SLUICE_REDUCE_H

#include <vips/vips.h>

// The fast resize: the lanczos3 reduction libvips 8.14's vips_thumbnail
// does after shrink-on-load (vertical, then horizontal, 12-bit fixed point,
// edge pixels repeated), computed by our own vectorised kernels for 8-bit
// sRGB or greyscale images without alpha, and only for the output pixels
// kept after a centred crop. See reduce.c.

// A box the resized image is cropped (or edge-extended) to, centred as
// vips_gravity centres it; width or height 0 means no box on that side.
typedef struct {
	int width, height;
} sl_box;

// sl_fast_thumbnail does what vips_thumbnail_image(in, width, "height",
// height, "size", size) followed by a centred crop to box does, when it
// can: in is 8-bit sRGB or B_W without alpha and the result is a plain
// reduction (no enlargement, no integer pre-shrink). It returns 0 with
// *out set, 1 when the case is not one it handles (nothing is allocated),
// and -1 on a libvips error.
int sl_fast_thumbnail(VipsImage *in, int width, int height, int size,
	sl_box box, VipsImage **out);

// sl_fast_uses counts the images sl_fast_thumbnail has made; for tests.
int sl_fast_uses(void);
// sl_fast_live counts the plans and per-thread sequences alive; for tests.
int sl_fast_live(void);

// Selects the kernels: 1 for the AVX2 ones when the CPU has AVX2, 0 for
// the portable C ones. Both give identical pixels. Returns the previous
// setting; for tests.
int sl_reduce_set_simd(int on);

#endif
