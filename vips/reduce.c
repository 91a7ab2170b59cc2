// The fast resize (see reduce.h).
//
// libvips 8.14 reduces with scalar C loops (reduceh) and a 6-bit orc
// program (reducev); 8.15 added SIMD for both, but Debian bookworm ships
// 8.14. This file computes the same lanczos3 reduction vips_thumbnail
// makes, with the same geometry and the same 12-bit fixed-point arithmetic
// as libvips' C path: per axis an odd number of taps, 65 precomputed phases
// of coefficients truncated to 1/4096, edge pixels repeated, vertical pass
// rounded and clipped to 8 bits before the horizontal one. The kernels come
// in two versions that give identical pixels: portable C, and AVX2 (chosen
// at run time) that works on 16 bytes of a row at once vertically and on
// four taps of an RGB pixel at once horizontally.
//
// The result is an ordinary libvips image whose pixels are computed on
// demand, strip by strip, from the sequentially decoded source: memory stays
// a few rows deep and a crop computes only the pixels it keeps.
//
// Thread rules: the plan is read-only once built; every libvips worker
// thread has its own sequence (input region and row buffer).

#include <math.h>
#include <stdint.h>
#include <string.h>
// SL_PORTABLE builds the portable kernels only.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(SL_PORTABLE)
#define SL_X86 1
#include <immintrin.h>
#endif
#include <vips/vips.h>

#include "reduce.h"

#define PHASES 64      // VIPS_TRANSFORM_SCALE: coefficient tables per pixel
#define COEF_SHIFT 12  // VIPS_INTERPOLATE_SHIFT: coefficients are x/4096
#define COEF_ONE (1 << COEF_SHIFT)
#define ROUND_BY (COEF_ONE >> 1)
// Shrinks handled are below 4 (libvips box-shrinks first above twice its
// gap of 2), so lanczos3 needs at most 2 * 12 + 1 taps.
#define MAX_TAPS 32
// The AVX2 kernels read up to this many bytes past the last tap.
#define SLACK 32

typedef struct {
	int in_len;     // source pixels on this axis
	int len;        // resized pixels
	int n;          // taps per resized pixel (odd)
	int n4;         // n rounded up to a multiple of 4; extra taps weigh 0
	int *start;     // per resized pixel: source index of its first tap
	uint8_t *phase; // per resized pixel: its coefficient table, 0..PHASES
	int16_t *coef;  // (PHASES + 1) tables of n4 coefficients
	int32_t *pairs; // (PHASES + 1) tables of n4 / 2 (c[2k] | c[2k+1] << 16)
	// The crop: output pixel o is resized pixel clamp(o - off).
	int off;
	int out_len;
} axis;

typedef struct {
	axis h, v;
	// enlarge: both axes are vips_affine's bicubic (Catmull-Rom) scaling,
	// which filters horizontally first and keeps the rounded sums
	// unclipped until the vertical pass.
	int enlarge;
	int bands;
	int in_w, in_h;
	// For 3 bands: (PHASES + 1) tables of n4 / 4 groups of 16 int16, the
	// AVX2 horizontal kernel's layout (see hpass3_avx2).
	int16_t *quads;
} plan;

static int use_avx2;
static gint fast_uses;
// Plans and sequences alive, for tests: both must go with their images.
static gint live;

int sl_fast_uses(void)
{
	return g_atomic_int_get(&fast_uses);
}

int sl_fast_live(void)
{
	return g_atomic_int_get(&live);
}

static void plan_closed(VipsImage *im, void *user)
{
	g_atomic_int_add(&live, -1);
}

int sl_reduce_set_simd(int on)
{
	int was = use_avx2;
#ifdef SL_X86
	__builtin_cpu_init();
	use_avx2 = on && __builtin_cpu_supports("avx2");
#else
	use_avx2 = 0;
#endif
	return was;
}

static inline int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static inline uint8_t fixed_to_u8(int sum)
{
	sum = (sum + ROUND_BY) >> COEF_SHIFT;
	return sum < 0 ? 0 : sum > 255 ? 255 : sum;
}

// lanczos3 writes the 2 * rint(3 * shrink) + 1 weights of a lanczos3
// kernel stretched by shrink, for a sample x (0 to 1) past the first tap's
// centre, normalised to sum to 1: libvips' formula, evaluated in the same
// order so the doubles, and so the truncated integers, are the same.
static void lanczos3(double *c, double shrink, double x)
{
	const int a = 3;
	const int n = 2 * rint(a * shrink) + 1;
	const double half = x + n / 2.0 - 1;
	const double pi = 3.14159265358979323846;
	double sum = 0;
	int i;

	for (i = 0; i < n; i++) {
		const double xp = (i - half) / shrink;
		double l;
		if (xp == 0.0)
			l = 1.0;
		else if (xp < -a || xp > a)
			l = 0.0;
		else
			l = (double) a * sin(pi * xp) * sin(pi * xp / (double) a) /
				(pi * pi * xp * xp);
		c[i] = l;
		sum += l;
	}
	for (i = 0; i < n; i++)
		c[i] /= sum;
}

// axis_plan fills ax for reducing in_len pixels by shrink (>= 1; exactly 1
// copies) the way vips_reduceh/vips_reducev with gap 2 do. Tables live as
// long as owner. Returns 1 for a reduction libvips would box-shrink first.
static int axis_plan(VipsObject *owner, axis *ax, int in_len, double shrink)
{
	int i, k, phase;

	ax->in_len = in_len;
	if (shrink == 1.0) {
		ax->len = in_len;
		ax->n = 1;
	} else {
		ax->len = (int) ((double) in_len / shrink + 0.5);
		if (ax->len <= 0)
			return 1;
		if (floor((double) in_len / ax->len / 2.0) > 1)
			return 1;
		ax->n = 2 * rint(3 * shrink) + 1;
		if (ax->n > MAX_TAPS)
			return 1;
	}
	ax->n4 = (ax->n + 3) & ~3;
	ax->out_len = ax->len;
	ax->off = 0;

	ax->start = vips_malloc(owner, sizeof(int) * ax->len);
	ax->phase = vips_malloc(owner, ax->len);
	ax->coef = vips_malloc(owner, sizeof(int16_t) * (PHASES + 1) * ax->n4);
	ax->pairs = vips_malloc(owner, sizeof(int32_t) * (PHASES + 1) * ax->n4 / 2);
	if (!ax->start || !ax->phase || !ax->coef || !ax->pairs)
		return -1;
	memset(ax->coef, 0, sizeof(int16_t) * (PHASES + 1) * ax->n4);

	if (ax->n == 1) {
		for (phase = 0; phase <= PHASES; phase++)
			ax->coef[phase * ax->n4] = COEF_ONE;
		for (i = 0; i < ax->len; i++) {
			ax->start[i] = i;
			ax->phase[i] = 0;
		}
	} else {
		double c[MAX_TAPS];
		// Pixels a rounded-down size leaves out are taken equally from
		// both ends.
		const double extra = ax->len * shrink - in_len;
		const double offset = (1 + extra) / 2.0 - 1;
		const int pad = (int) ceil(ax->n / 2.0) - 1;

		for (phase = 0; phase <= PHASES; phase++) {
			lanczos3(c, shrink, (float) phase / PHASES);
			for (k = 0; k < ax->n; k++)
				ax->coef[phase * ax->n4 + k] =
					(int) (c[k] * COEF_ONE);
		}
		for (i = 0; i < ax->len; i++) {
			const double X = (i + 0.5) * shrink - 0.5 - offset;
			const int ix = (int) X;
			const int sx = X * PHASES * 2;
			ax->start[i] = ix - pad;
			ax->phase[i] = ((sx & (PHASES * 2 - 1)) + 1) >> 1;
		}
	}
	for (phase = 0; phase <= PHASES; phase++) {
		const int16_t *c = ax->coef + phase * ax->n4;
		for (k = 0; k < ax->n4 / 2; k++)
			ax->pairs[phase * ax->n4 / 2 + k] = (uint16_t) c[2 * k] |
				((uint32_t) (uint16_t) c[2 * k + 1] << 16);
	}
	return 0;
}

// catmull writes the four Catmull-Rom weights for a sample x (0 to 1)
// past the second tap, as libvips' bicubic interpolator computes them.
static void catmull(double c[4], double x)
{
	const double cr1 = 1. - x;
	const double cr2 = -.5 * x;
	const double cr3 = cr1 * cr2;
	const double cone = cr1 * cr3;
	const double cfou = x * cr3;
	const double cr4 = cfou - cone;
	const double ctwo = cr1 - cone + cr4;
	const double cthr = x - cfou - cr4;
	c[0] = cone;
	c[1] = ctwo;
	c[2] = cthr;
	c[3] = cfou;
}

// axis_plan_up fills ax for enlarging in_len pixels by scale (>= 1) the
// way vips_resize's vips_affine does: inv is the matrix inverse's entry
// for this axis, output pixel i samples source position inv * i - 0.5
// (libvips' input displacement of half a pixel, less the one-pixel border
// it adds), four taps around it.
static int axis_plan_up(VipsObject *owner, axis *ax, int in_len, double scale,
	double inv)
{
	const double len = in_len * scale;
	int i, k, phase;

	ax->in_len = in_len;
	// Past libvips' coordinate limit vips_affine refuses, and so do we.
	if (len > VIPS_MAX_COORD)
		return 1;
	ax->len = (int) (len > 0 ? len + 0.5 : len - 0.5);
	if (ax->len <= 0)
		return 1;
	ax->n = 4;
	ax->n4 = 4;
	ax->out_len = ax->len;
	ax->off = 0;
	ax->start = vips_malloc(owner, sizeof(int) * ax->len);
	ax->phase = vips_malloc(owner, ax->len);
	ax->coef = vips_malloc(owner, sizeof(int16_t) * (PHASES + 1) * 4);
	ax->pairs = vips_malloc(owner, sizeof(int32_t) * (PHASES + 1) * 2);
	if (!ax->start || !ax->phase || !ax->coef || !ax->pairs)
		return -1;
	for (phase = 0; phase <= PHASES; phase++) {
		double c[4];
		catmull(c, (float) phase / PHASES);
		for (k = 0; k < 4; k++)
			ax->coef[phase * 4 + k] = (int) (c[k] * COEF_ONE);
		for (k = 0; k < 2; k++)
			ax->pairs[phase * 2 + k] =
				(uint16_t) ax->coef[phase * 4 + 2 * k] |
				((uint32_t) (uint16_t) ax->coef[phase * 4 + 2 * k + 1] << 16);
	}
	for (i = 0; i < ax->len; i++) {
		// In libvips' coordinates: the source embedded in a border of
		// two pixels, the stencil starting one before the sample.
		double X = inv * i;
		X -= -0.5;
		X += 1;
		const int ix = (int) X;
		const int sx = X * PHASES * 2;
		ax->start[i] = ix - 1 - 2;
		ax->phase[i] = ((sx & (PHASES * 2 - 1)) + 1) >> 1;
	}
	return 0;
}

// axis_box centres a box of box_len pixels on the resized axis as
// vips_gravity does, cropping or repeating the edge pixels. flip says the
// EXIF orientation reverses this axis: the crop is then chosen so that it
// lands where the centred one would after the rotation.
static void axis_box(axis *ax, int box_len, int flip)
{
	int g;
	if (box_len <= 0)
		return;
	// C division truncates towards zero, as vips_gravity's does.
	g = (box_len - ax->len) / 2;
	ax->off = flip ? (box_len - ax->len) - g : g;
	ax->out_len = box_len;
}

// The kernels. rows are the n source rows of one output row; the vertical
// pass writes len bytes of them, filtered, to out.

static void vpass_c(const uint8_t *const *rows, const int16_t *c, int n,
	uint8_t *out, int len)
{
	int i, k;
	for (i = 0; i < len; i++) {
		int sum = 0;
		for (k = 0; k < n; k++)
			sum += c[k] * rows[k][i];
		out[i] = fixed_to_u8(sum);
	}
}

#ifdef SL_X86
// vpass16_at filters the 16 bytes at i of every row: two taps at a time,
// two rows' pixels interleaved as 16-bit pairs and multiply-added with
// the pair of coefficients.
__attribute__((target("avx2"), always_inline))
static inline void vpass16_at(const uint8_t *const *rows,
	const int32_t *pairs, int n, uint8_t *out, int i)
{
	const __m256i zero = _mm256_setzero_si256();
	__m256i lo = _mm256_set1_epi32(ROUND_BY), hi = lo;
	int k;
	for (k = 0; k + 1 < n; k += 2) {
		__m256i a = _mm256_cvtepu8_epi16(
			_mm_loadu_si128((const __m128i *) (rows[k] + i)));
		__m256i b = _mm256_cvtepu8_epi16(
			_mm_loadu_si128((const __m128i *) (rows[k + 1] + i)));
		__m256i cc = _mm256_set1_epi32(pairs[k / 2]);
		lo = _mm256_add_epi32(lo,
			_mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), cc));
		hi = _mm256_add_epi32(hi,
			_mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), cc));
	}
	if (k < n) {
		__m256i a = _mm256_cvtepu8_epi16(
			_mm_loadu_si128((const __m128i *) (rows[k] + i)));
		__m256i cc = _mm256_set1_epi32(pairs[k / 2]);
		lo = _mm256_add_epi32(lo,
			_mm256_madd_epi16(_mm256_unpacklo_epi16(a, zero), cc));
		hi = _mm256_add_epi32(hi,
			_mm256_madd_epi16(_mm256_unpackhi_epi16(a, zero), cc));
	}
	lo = _mm256_srai_epi32(lo, COEF_SHIFT);
	hi = _mm256_srai_epi32(hi, COEF_SHIFT);
	// The unpacks split each 128-bit lane into pixels 0-3 and 4-7;
	// packing lo with hi puts them back in order.
	__m256i w = _mm256_packs_epi32(lo, hi);
	__m128i b8 = _mm_packus_epi16(_mm256_castsi256_si128(w),
		_mm256_extracti128_si256(w, 1));
	_mm_storeu_si128((__m128i *) (out + i), b8);
}

// vpass32_at is vpass16_at for the 32 bytes at i, with fewer shuffles:
// whole 32-byte rows are interleaved byte by byte, then widened against
// zero, which gives the same 16-bit pairs with six shuffles per two taps
// where two vpass16_at calls need eight.
__attribute__((target("avx2"), always_inline))
static inline void vpass32_at(const uint8_t *const *rows,
	const int32_t *pairs, int n, uint8_t *out, int i)
{
	const __m256i zero = _mm256_setzero_si256();
	__m256i s0 = _mm256_set1_epi32(ROUND_BY), s1 = s0, s2 = s0, s3 = s0;
	int k;
	for (k = 0; k < n; k += 2) {
		__m256i a = _mm256_loadu_si256((const __m256i *) (rows[k] + i));
		__m256i b = k + 1 < n ?
			_mm256_loadu_si256((const __m256i *) (rows[k + 1] + i)) :
			zero;
		__m256i cc = _mm256_set1_epi32(pairs[k / 2]);
		// Per 128-bit lane: bytes 0-7 and 8-15 of a and b, paired.
		__m256i lo = _mm256_unpacklo_epi8(a, b);
		__m256i hi = _mm256_unpackhi_epi8(a, b);
		s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(
			_mm256_unpacklo_epi8(lo, zero), cc));
		s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(
			_mm256_unpackhi_epi8(lo, zero), cc));
		s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(
			_mm256_unpacklo_epi8(hi, zero), cc));
		s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(
			_mm256_unpackhi_epi8(hi, zero), cc));
	}
	// s0..s3 hold bytes 0-3, 4-7, 8-11, 12-15 of each lane: packing
	// them in that order restores the byte order.
	__m256i w01 = _mm256_packs_epi32(_mm256_srai_epi32(s0, COEF_SHIFT),
		_mm256_srai_epi32(s1, COEF_SHIFT));
	__m256i w23 = _mm256_packs_epi32(_mm256_srai_epi32(s2, COEF_SHIFT),
		_mm256_srai_epi32(s3, COEF_SHIFT));
	_mm256_storeu_si256((__m256i *) (out + i),
		_mm256_packus_epi16(w01, w23));
}

__attribute__((target("avx2")))
static void vpass_avx2(const uint8_t *const *rows, const int16_t *c,
	const int32_t *pairs, int n, uint8_t *out, int len)
{
	int i;
	if (len < 16) {
		vpass_c(rows, c, n, out, len);
		return;
	}
	if (len < 32) {
		vpass16_at(rows, pairs, n, out, 0);
		vpass16_at(rows, pairs, n, out, len - 16);
		return;
	}
	for (i = 0; i + 32 <= len; i += 32)
		vpass32_at(rows, pairs, n, out, i);
	// The tail: the last 32 bytes again, overlapping bytes get the
	// same values.
	if (i < len)
		vpass32_at(rows, pairs, n, out, len - 32);
}
#endif

// The horizontal pass makes output pixels x0 to x0 + w - 1 of a row from
// row, the vertically filtered source row whose first byte is source pixel
// first, with edge pixels repeated as far as any tap reaches.

static void hpass_c(const plan *pl, const uint8_t *row, int first,
	int x0, int w, uint8_t *q)
{
	const axis *h = &pl->h;
	const int bands = pl->bands;
	int o, b, k;

	for (o = x0; o < x0 + w; o++) {
		const int ux = clampi(o - h->off, 0, h->len - 1);
		const uint8_t *p = row + (size_t) (h->start[ux] - first) * bands;
		const int16_t *c = h->coef + h->phase[ux] * h->n4;
		for (b = 0; b < bands; b++) {
			int sum = 0;
			for (k = 0; k < h->n; k++)
				sum += c[k] * p[k * bands + b];
			*q++ = fixed_to_u8(sum);
		}
	}
}

#ifdef SL_X86
// hpass3_avx2 takes four taps of an RGB pixel per step: the 12 bytes are
// spread into 16-bit [r0 r1 g0 g1 b0 b1 0 0 | r2 r3 g2 g3 b2 b3 0 0] and
// multiply-added with [c0 c1 c0 c1 c0 c1 0 0 | c2 c3 c2 c3 c2 c3 0 0].
// Two output pixels go together so that they share the final reduction.
__attribute__((target("avx2"), always_inline))
static inline __m256i hsum3_avx2(const uint8_t *p, const int16_t *c,
	int groups, __m256i spread)
{
	__m256i acc = _mm256_setzero_si256();
	int g;
	for (g = 0; g < groups; g++) {
		__m256i v = _mm256_broadcastsi128_si256(
			_mm_loadu_si128((const __m128i *) (p + 12 * g)));
		acc = _mm256_add_epi32(acc, _mm256_madd_epi16(
			_mm256_shuffle_epi8(v, spread),
			_mm256_loadu_si256((const __m256i *) (c + 16 * g))));
	}
	return acc;
}

__attribute__((target("avx2"), always_inline))
static inline void hpass3_avx2_n(const plan *pl, const uint8_t *row,
	const int32_t *idx, int w, uint8_t *q, const int groups)
{
	const __m256i spread = _mm256_setr_epi8(
		0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
		6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
	const __m256i round = _mm256_set1_epi32(ROUND_BY);
	int o;

	for (o = 0; o < w; o += 2) {
		// An odd last pixel pairs with itself; only one is stored.
		const int32_t *ia = idx + 2 * o;
		const int32_t *ib = o + 1 < w ? ia + 2 : ia;
		__m256i a = hsum3_avx2(row + ia[0], pl->quads + ia[1], groups,
			spread);
		__m256i b = hsum3_avx2(row + ib[0], pl->quads + ib[1], groups,
			spread);
		// [a.lo + a.hi | b.lo + b.hi]: r g b 0 of each pixel.
		__m256i sum = _mm256_add_epi32(
			_mm256_permute2x128_si256(a, b, 0x20),
			_mm256_permute2x128_si256(a, b, 0x31));
		sum = _mm256_srai_epi32(_mm256_add_epi32(sum, round), COEF_SHIFT);
		sum = _mm256_packs_epi32(sum, sum);
		sum = _mm256_packus_epi16(sum, sum);
		uint32_t pa = (uint32_t) _mm256_cvtsi256_si32(sum);
		uint32_t pb = (uint32_t) _mm_cvtsi128_si32(
			_mm256_extracti128_si256(sum, 1));
		if (o + 2 < w) {
			// Four-byte stores: each spare byte is the next pixel's
			// first, written again right after.
			memcpy(q, &pa, 4);
			memcpy(q + 3, &pb, 4);
		} else {
			memcpy(q, &pa, 3);
			if (o + 1 < w)
				memcpy(q + 3, &pb, 3);
		}
		q += 6;
	}
}

// The tap counts a shrink below 4 gives, each compiled with its loop
// unrolled.
// idx holds, per output pixel, the byte offset of its first tap in row and
// the offset of its coefficients in quads.
__attribute__((target("avx2")))
static void hpass3_avx2(const plan *pl, const uint8_t *row, int first,
	int x0, int w, uint8_t *q, const int32_t *idx)
{
	switch (pl->h.n4 / 4) {
	case 1:
		hpass3_avx2_n(pl, row, idx, w, q, 1);
		break;
	case 2:
		hpass3_avx2_n(pl, row, idx, w, q, 2);
		break;
	case 3:
		hpass3_avx2_n(pl, row, idx, w, q, 3);
		break;
	case 4:
		hpass3_avx2_n(pl, row, idx, w, q, 4);
		break;
	case 5:
		hpass3_avx2_n(pl, row, idx, w, q, 5);
		break;
	case 6:
		hpass3_avx2_n(pl, row, idx, w, q, 6);
		break;
	case 7:
		hpass3_avx2_n(pl, row, idx, w, q, 7);
		break;
	default:
		hpass3_avx2_n(pl, row, idx, w, q, pl->h.n4 / 4);
		break;
	}
}
#endif

// The enlargement's kernels. The horizontal pass keeps 16-bit sums,
// rounded but not clipped; the vertical one combines four such rows.

static void hpass16_c(const plan *pl, const uint8_t *row, int first,
	int x0, int w, int16_t *q)
{
	const axis *h = &pl->h;
	const int bands = pl->bands;
	int o, b, k;

	for (o = x0; o < x0 + w; o++) {
		const int ux = clampi(o - h->off, 0, h->len - 1);
		const uint8_t *p = row + (size_t) (h->start[ux] - first) * bands;
		const int16_t *c = h->coef + h->phase[ux] * 4;
		for (b = 0; b < bands; b++) {
			int sum = 0;
			for (k = 0; k < 4; k++)
				sum += c[k] * p[k * bands + b];
			*q++ = (sum + ROUND_BY) >> COEF_SHIFT;
		}
	}
}

#ifdef SL_X86
__attribute__((target("avx2")))
static void hpass16_3_avx2(const plan *pl, const uint8_t *row, int first,
	int x0, int w, int16_t *q)
{
	const axis *h = &pl->h;
	const __m256i spread = _mm256_setr_epi8(
		0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
		6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
	const __m256i round = _mm256_set1_epi32(ROUND_BY);
	const int end = x0 + w;
	int o;

	for (o = x0; o < end; o += 2) {
		const int ua = clampi(o - h->off, 0, h->len - 1);
		const int ub = o + 1 < end ?
			clampi(o + 1 - h->off, 0, h->len - 1) : ua;
		__m256i a = hsum3_avx2(row + (size_t) (h->start[ua] - first) * 3,
			pl->quads + h->phase[ua] * 16, 1, spread);
		__m256i b = hsum3_avx2(row + (size_t) (h->start[ub] - first) * 3,
			pl->quads + h->phase[ub] * 16, 1, spread);
		__m256i sum = _mm256_add_epi32(
			_mm256_permute2x128_si256(a, b, 0x20),
			_mm256_permute2x128_si256(a, b, 0x31));
		sum = _mm256_srai_epi32(_mm256_add_epi32(sum, round), COEF_SHIFT);
		sum = _mm256_packs_epi32(sum, sum);
		uint64_t pa = (uint64_t) _mm256_extract_epi64(sum, 0);
		memcpy(q, &pa, 6);
		if (o + 1 < end) {
			uint64_t pb = (uint64_t) _mm256_extract_epi64(sum, 2);
			memcpy(q + 3, &pb, 6);
		}
		q += 6;
	}
}

#endif

static void vpass16_c(const int16_t *const *rows, const int16_t *c,
	uint8_t *out, int len)
{
	int i;
	for (i = 0; i < len; i++)
		out[i] = fixed_to_u8(c[0] * rows[0][i] + c[1] * rows[1][i] +
			c[2] * rows[2][i] + c[3] * rows[3][i]);
}

#ifdef SL_X86
__attribute__((target("avx2")))
static void vpass16_avx2(const int16_t *const *rows, const int16_t *c,
	const int32_t *pairs, uint8_t *out, int len)
{
	const __m256i round = _mm256_set1_epi32(ROUND_BY);
	const __m256i c01 = _mm256_set1_epi32(pairs[0]);
	const __m256i c23 = _mm256_set1_epi32(pairs[1]);
	int i;

	for (i = 0; i + 16 <= len; i += 16) {
		__m256i r0 = _mm256_loadu_si256((const __m256i *) (rows[0] + i));
		__m256i r1 = _mm256_loadu_si256((const __m256i *) (rows[1] + i));
		__m256i r2 = _mm256_loadu_si256((const __m256i *) (rows[2] + i));
		__m256i r3 = _mm256_loadu_si256((const __m256i *) (rows[3] + i));
		__m256i lo = _mm256_add_epi32(round, _mm256_add_epi32(
			_mm256_madd_epi16(_mm256_unpacklo_epi16(r0, r1), c01),
			_mm256_madd_epi16(_mm256_unpacklo_epi16(r2, r3), c23)));
		__m256i hi = _mm256_add_epi32(round, _mm256_add_epi32(
			_mm256_madd_epi16(_mm256_unpackhi_epi16(r0, r1), c01),
			_mm256_madd_epi16(_mm256_unpackhi_epi16(r2, r3), c23)));
		lo = _mm256_srai_epi32(lo, COEF_SHIFT);
		hi = _mm256_srai_epi32(hi, COEF_SHIFT);
		__m256i w = _mm256_packs_epi32(lo, hi);
		_mm_storeu_si128((__m128i *) (out + i), _mm_packus_epi16(
			_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
	}
	if (i < len) {
		const int16_t *tail[4] = {rows[0] + i, rows[1] + i, rows[2] + i,
			rows[3] + i};
		vpass16_c(tail, c, out + i, len - i);
	}
}

#endif

#ifndef SL_X86
// Elsewhere only the portable kernels exist, and use_avx2 stays 0.
#define vpass_avx2(rows, c, pairs, n, out, len) vpass_c(rows, c, n, out, len)
#define hpass3_avx2(pl, row, first, x0, w, q, idx) \
	hpass_c(pl, row, first, x0, w, q)
#define hpass16_3_avx2 hpass16_c
#define vpass16_avx2(rows, c, pairs, out, len) vpass16_c(rows, c, out, len)
#endif

typedef struct {
	VipsRegion *ir;
	uint8_t *row;
	size_t cap;
	// Enlarging: four horizontally filtered source rows, slot y & 3 for
	// source row y, valid for the region being made.
	int16_t *hrows[4];
	int tag[4];
	size_t hcap;
	// Reducing RGB with AVX2: per output pixel of the region, its first
	// tap's byte offset in row and its coefficients' offset in quads.
	int32_t *idx;
	size_t idxcap;
} seq;

static void *reduce_start(VipsImage *out, void *a, void *b)
{
	seq *s = g_new0(seq, 1);
	s->ir = vips_region_new((VipsImage *) a);
	g_atomic_int_inc(&live);
	return s;
}

static int reduce_stop(void *vseq, void *a, void *b)
{
	seq *s = vseq;
	g_object_unref(s->ir);
	g_free(s->row);
	for (int i = 0; i < 4; i++)
		g_free(s->hrows[i]);
	g_free(s->idx);
	g_free(s);
	g_atomic_int_add(&live, -1);
	return 0;
}

// enlarge_rows makes region r of an enlargement: each output row
// combines four source rows filtered horizontally, each filtered once
// for the region.
static int enlarge_rows(seq *s, const plan *pl, const VipsRect *r,
	VipsRegion *out_region, int first, int last, int xlo, int xhi)
{
	const axis *v = &pl->v;
	const int bands = pl->bands;
	const int avx2 = use_avx2;
	const int len = r->width * bands;
	uint8_t *mid = s->row + (size_t) (xlo - first) * bands;
	const int span = (xhi - xlo + 1) * bands;
	const int16_t *rows[4];
	int y, k, x;

	// 16 spare samples: the AVX2 pass stores 4 int16 for 3.
	size_t hsize = sizeof(int16_t) * ((size_t) len + 16);
	if (hsize > s->hcap) {
		for (k = 0; k < 4; k++) {
			g_free(s->hrows[k]);
			s->hrows[k] = g_malloc(hsize);
		}
		s->hcap = hsize;
	}
	for (k = 0; k < 4; k++)
		s->tag[k] = -1;

	for (y = 0; y < r->height; y++) {
		const int uy = clampi(r->top + y - v->off, 0, v->len - 1);
		const int y0 = v->start[uy];
		const int ph = v->phase[uy];
		for (k = 0; k < 4; k++) {
			// Four consecutive rows (clamped) never share a slot.
			const int sy = clampi(y0 + k, 0, pl->in_h - 1);
			const int slot = sy & 3;
			if (s->tag[slot] != sy) {
				memcpy(mid, VIPS_REGION_ADDR(s->ir, xlo, sy), span);
				for (x = first; x < xlo; x++)
					memcpy(s->row + (size_t) (x - first) * bands,
						mid, bands);
				for (x = xhi + 1; x <= last; x++)
					memcpy(s->row + (size_t) (x - first) * bands,
						mid + span - bands, bands);
				if (avx2 && bands == 3)
					hpass16_3_avx2(pl, s->row, first, r->left,
						r->width, s->hrows[slot]);
				else
					hpass16_c(pl, s->row, first, r->left,
						r->width, s->hrows[slot]);
				s->tag[slot] = sy;
			}
			rows[k] = s->hrows[slot];
		}
		VipsPel *q = VIPS_REGION_ADDR(out_region, r->left, r->top + y);
		if (avx2)
			vpass16_avx2(rows, v->coef + ph * 4, v->pairs + ph * 2,
				q, len);
		else
			vpass16_c(rows, v->coef + ph * 4, q, len);
	}
	return 0;
}

static int reduce_gen(VipsRegion *out_region, void *vseq, void *a, void *b,
	gboolean *stop)
{
	seq *s = vseq;
	const plan *pl = b;
	const axis *h = &pl->h, *v = &pl->v;
	const VipsRect *r = &out_region->valid;
	const int bands = pl->bands;
	const int avx2 = use_avx2;
	const uint8_t *rows[MAX_TAPS];
	int y, k, x;

	// The source rectangle every tap of this region reads, clamped to
	// the image; the row buffer spans every tap, edges repeated.
	const int ux0 = clampi(r->left - h->off, 0, h->len - 1);
	const int ux1 = clampi(r->left + r->width - 1 - h->off, 0, h->len - 1);
	const int uy0 = clampi(r->top - v->off, 0, v->len - 1);
	const int uy1 = clampi(r->top + r->height - 1 - v->off, 0, v->len - 1);
	const int first = h->start[ux0];
	const int last = h->start[ux1] + h->n4 - 1;
	const int xlo = clampi(first, 0, pl->in_w - 1);
	const int xhi = clampi(h->start[ux1] + h->n - 1, 0, pl->in_w - 1);
	const int ylo = clampi(v->start[uy0], 0, pl->in_h - 1);
	const int yhi = clampi(v->start[uy1] + v->n - 1, 0, pl->in_h - 1);
	VipsRect need = {xlo, ylo, xhi - xlo + 1, yhi - ylo + 1};

	if (vips_region_prepare(s->ir, &need))
		return -1;
	size_t size = (size_t) (last - first + 1) * bands + SLACK;
	if (size > s->cap) {
		g_free(s->row);
		s->row = g_malloc0(size);
		s->cap = size;
	}
	uint8_t *mid = s->row + (size_t) (xlo - first) * bands;
	const int span = (xhi - xlo + 1) * bands;

	if (pl->enlarge)
		return enlarge_rows(s, pl, r, out_region, first, last, xlo,
			xhi);

	const int hsimd = avx2 && bands == 3;
	if (hsimd) {
		const size_t isize = sizeof(int32_t) * 2 * r->width;
		const size_t stride = (size_t) h->n4 / 4 * 16;
		if (isize > s->idxcap) {
			g_free(s->idx);
			s->idx = g_malloc(isize);
			s->idxcap = isize;
		}
		for (x = 0; x < r->width; x++) {
			const int ux = clampi(r->left + x - h->off, 0, h->len - 1);
			s->idx[2 * x] = (h->start[ux] - first) * 3;
			s->idx[2 * x + 1] = h->phase[ux] * stride;
		}
	}

	for (y = 0; y < r->height; y++) {
		const int uy = clampi(r->top + y - v->off, 0, v->len - 1);
		const int y0 = v->start[uy];
		const int ph = v->phase[uy];
		for (k = 0; k < v->n; k++)
			rows[k] = VIPS_REGION_ADDR(s->ir, xlo,
				clampi(y0 + k, 0, pl->in_h - 1));
		if (avx2)
			vpass_avx2(rows, v->coef + ph * v->n4,
				v->pairs + ph * v->n4 / 2, v->n, mid, span);
		else
			vpass_c(rows, v->coef + ph * v->n4, v->n, mid, span);
		for (x = first; x < xlo; x++)
			memcpy(s->row + (size_t) (x - first) * bands, mid, bands);
		for (x = xhi + 1; x <= last; x++)
			memcpy(s->row + (size_t) (x - first) * bands,
				mid + span - bands, bands);

		VipsPel *q = VIPS_REGION_ADDR(out_region, r->left, r->top + y);
		if (hsimd)
			hpass3_avx2(pl, s->row, first, r->left, r->width, q,
				s->idx);
		else
			hpass_c(pl, s->row, first, r->left, r->width, q);
	}
	return 0;
}

// Orientation as autorot applies it (rotate, then flip horizontally): does
// it swap the axes, and which output axes run backwards along the source
// axis they come from.
static void orientation_axes(int orientation, int *swap, int *flip_x,
	int *flip_y)
{
	static const int t[9][3] = {
		{0, 0, 0}, {0, 0, 0}, {0, 1, 0}, {0, 1, 1}, {0, 0, 1},
		{1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {1, 0, 1},
	};
	if (orientation < 1 || orientation > 8)
		orientation = 1;
	*swap = t[orientation][0];
	*flip_x = t[orientation][1];
	*flip_y = t[orientation][2];
}

int sl_fast_thumbnail(VipsImage *in, int width, int height, int size,
	sl_box box, VipsImage **out)
{
	*out = NULL;
	if (in->Coding != VIPS_CODING_NONE || in->BandFmt != VIPS_FORMAT_UCHAR)
		return 1;
	if (!(in->Bands == 3 && in->Type == VIPS_INTERPRETATION_sRGB) &&
		!(in->Bands == 1 && in->Type == VIPS_INTERPRETATION_B_W))
		return 1;
	if (vips_image_get_page_height(in) != in->Ysize)
		return 1;

	// vips_thumbnail's shrink factors, for the box after orientation.
	const int orientation = vips_image_get_orientation(in);
	int swap, flip_x, flip_y;
	orientation_axes(orientation, &swap, &flip_x, &flip_y);
	const int tw = swap ? height : width, th = swap ? width : height;
	double hshrink = (double) in->Xsize / tw;
	double vshrink = (double) in->Ysize / th;
	if (size != VIPS_SIZE_FORCE) {
		if (hshrink < vshrink)
			hshrink = vshrink;
		else
			vshrink = hshrink;
	}
	if (size == VIPS_SIZE_UP) {
		hshrink = VIPS_MIN(1, hshrink);
		vshrink = VIPS_MIN(1, vshrink);
	} else if (size == VIPS_SIZE_DOWN) {
		hshrink = VIPS_MAX(1, hshrink);
		vshrink = VIPS_MAX(1, vshrink);
	}
	hshrink = VIPS_MIN(hshrink, in->Xsize);
	vshrink = VIPS_MIN(vshrink, in->Ysize);

	// vips_resize's scales: enlarging is libvips' job.
	// vips_resize's scales: below 1 both (or 1 on one side) is a
	// reduction, 1 or more both (and not 1 both) an enlargement; a mix
	// is libvips' job.
	double hscale = VIPS_MAX(1.0 / hshrink, 1.0 / in->Xsize);
	double vscale = VIPS_MAX(1.0 / vshrink, 1.0 / in->Ysize);
	if (hscale == 1.0 && vscale == 1.0)
		return 1;
	const int enlarge = hscale >= 1.0 && vscale >= 1.0;
	if (!enlarge && (hscale > 1.0 || vscale > 1.0))
		return 1;

	VipsImage *im = vips_image_new();
	// The plan and its tables are freed with im.
	g_atomic_int_inc(&live);
	g_signal_connect(im, "postclose", G_CALLBACK(plan_closed), NULL);
	plan *pl = vips_malloc(VIPS_OBJECT(im), sizeof(plan));
	int rc;
	if (!pl) {
		g_object_unref(im);
		return -1;
	}
	memset(pl, 0, sizeof(*pl));
	pl->bands = in->Bands;
	pl->in_w = in->Xsize;
	pl->in_h = in->Ysize;
	pl->enlarge = enlarge;
	if (enlarge) {
		// vips_affine's inverse of the matrix [hscale 0; 0 vscale].
		const double det = hscale * vscale - 0.0 * 0.0;
		const double tmp = 1.0 / det;
		rc = axis_plan_up(VIPS_OBJECT(im), &pl->v, in->Ysize, vscale,
			tmp * hscale);
		if (!rc)
			rc = axis_plan_up(VIPS_OBJECT(im), &pl->h, in->Xsize,
				hscale, tmp * vscale);
	} else {
		rc = axis_plan(VIPS_OBJECT(im), &pl->v, in->Ysize,
			vscale < 1.0 ? 1.0 / vscale : 1.0);
		if (!rc)
			rc = axis_plan(VIPS_OBJECT(im), &pl->h, in->Xsize,
				hscale < 1.0 ? 1.0 / hscale : 1.0);
	}
	if (rc) {
		g_object_unref(im);
		return rc;
	}
	if (swap) {
		axis_box(&pl->h, box.height, flip_y);
		axis_box(&pl->v, box.width, flip_x);
	} else {
		axis_box(&pl->h, box.width, flip_x);
		axis_box(&pl->v, box.height, flip_y);
	}
	if (pl->bands == 3) {
		const axis *h = &pl->h;
		const int groups = h->n4 / 4;
		pl->quads = vips_malloc(VIPS_OBJECT(im),
			sizeof(int16_t) * (PHASES + 1) * groups * 16);
		if (!pl->quads) {
			g_object_unref(im);
			return -1;
		}
		for (int phase = 0; phase <= PHASES; phase++)
			for (int g = 0; g < groups; g++) {
				const int16_t *c = h->coef + phase * h->n4 + 4 * g;
				int16_t *d = pl->quads + ((size_t) phase * groups + g) * 16;
				for (int lane = 0; lane < 2; lane++)
					for (int j = 0; j < 8; j++)
						d[lane * 8 + j] = j < 6 ?
							c[lane * 2 + (j & 1)] : 0;
			}
	}

	if (vips_image_pipelinev(im, VIPS_DEMAND_STYLE_THINSTRIP, in, NULL)) {
		g_object_unref(im);
		return -1;
	}
	im->Xsize = pl->h.out_len;
	im->Ysize = pl->v.out_len;
	// The pixels are computed from in whenever im is read: in lives as
	// long as im.
	g_object_ref(in);
	vips_object_local(im, in);
	if (vips_image_generate(im, reduce_start, reduce_gen, reduce_stop,
		in, pl)) {
		g_object_unref(im);
		return -1;
	}
	g_atomic_int_inc(&fast_uses);
	if (orientation == 1) {
		*out = im;
		return 0;
	}
	// As vips_thumbnail does: rotate a memory copy, the pixels arrive in
	// order only.
	VipsImage *mem = vips_image_copy_memory(im);
	g_object_unref(im);
	if (!mem)
		return -1;
	rc = vips_autorot(mem, out, NULL);
	g_object_unref(mem);
	return rc ? -1 : 0;
}
