#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <vips/vips.h>
#include <vips/vector.h>

#include "bridge.h"
#include "reduce.h"

// libvips warnings (corrupt-but-readable files, unknown EXIF tags) go to
// stderr through GLib by default; the Go side reports what matters as errors.
static void quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg,
	gpointer user)
{
}

int sl_init(void)
{
	if (VIPS_INIT("sluice"))
		return -1;
#ifdef __GLIBC__
	// Every resize allocates and frees strip buffers of a few hundred KiB
	// to a few MiB. glibc would hand each back to the kernel (mmap above
	// 128 KiB, trimming the heap top) and fault fresh zeroed pages in on
	// the next request: about 1,300 page faults per photo. Keeping them
	// in the allocator's free lists costs at most what one image at a time
	// per worker needs; the Go heap does not use malloc, so nothing else
	// in the process is affected.
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
	// One request's result is never reused by another, and cached operations
	// would keep source buffers and decoded pixels alive between requests.
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max_files(0);
	// Parallelism comes from the Go worker pool: one libvips thread per image.
	vips_concurrency_set(1);
	// ImageMagick, PDF, SVG and friends are not for bytes from the internet.
	vips_block_untrusted_set(TRUE);
	sl_reduce_set_simd(1);
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE |
		G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG, quiet, NULL);
	return 0;
}

char *sl_error_take(void)
{
	// vips_error_buffer_copy copies and clears under libvips' own lock.
	return vips_error_buffer_copy();
}

void sl_free(void *p)
{
	g_free(p);
}

// sl_encode_hevc writes buf as an HEVC HEIF, for tests: HEIF is read but
// never written by Sluice, and no Go encoder exists for it.
int sl_encode_hevc(const void *buf, size_t len, void **out, size_t *out_len)
{
	VipsImage *im = vips_image_new_from_buffer(buf, len, "", NULL);
	if (!im)
		return -1;
	int r = vips_heifsave_buffer(im, out, out_len,
		"compression", VIPS_FOREIGN_HEIF_COMPRESSION_HEVC, NULL);
	g_object_unref(im);
	return r;
}

void sl_set_vector(int on)
{
	vips_vector_set_enabled(on);
}

int sl_set_simd(int on)
{
	return sl_reduce_set_simd(on);
}

size_t sl_tracked_mem(void)
{
	return vips_tracked_get_mem();
}

int sl_tracked_allocs(void)
{
	return vips_tracked_get_allocs();
}

static void *count_object(VipsObject *object, void *a, void *b)
{
	(*(int *) a)++;
	return NULL;
}

int sl_live_objects(void)
{
	int n = 0;
	vips_object_map((VipsSListMap2Fn) count_object, &n, NULL);
	return n;
}

// source_format names the loader libvips would pick for buf, restricted to
// the loaders we accept. The check runs on the same bytes the real load
// reads, so no other loader can be reached.
static int source_format(const void *buf, size_t len)
{
	const char *name = vips_foreign_find_load_buffer(buf, len);
	if (!name) {
		vips_error_clear();
		return SL_FMT_UNKNOWN;
	}
	if (strcmp(name, "VipsForeignLoadJpegBuffer") == 0)
		return SL_FMT_JPEG;
	if (strcmp(name, "VipsForeignLoadPngBuffer") == 0)
		return SL_FMT_PNG;
	if (strcmp(name, "VipsForeignLoadWebpBuffer") == 0)
		return SL_FMT_WEBP;
	if (strcmp(name, "VipsForeignLoadNsgifBuffer") == 0)
		return SL_FMT_GIF;
	if (strcmp(name, "VipsForeignLoadHeifBuffer") == 0)
		return SL_FMT_HEIF;
	if (strcmp(name, "VipsForeignLoadTiffBuffer") == 0)
		return SL_FMT_TIFF;
	return SL_FMT_UNKNOWN;
}

static void fill_header(VipsImage *im, int format, sl_header *h)
{
	int page_height = vips_image_get_page_height(im);
	h->width = im->Xsize;
	h->height = page_height;
	h->pages = vips_image_get_n_pages(im);
	h->orientation = vips_image_get_orientation(im);
	h->has_alpha = vips_image_hasalpha(im);
	h->format = format;
	if (format == SL_FMT_HEIF &&
		vips_image_get_typeof(im, "heif-compression")) {
		const char *c = NULL;
		if (!vips_image_get_string(im, "heif-compression", &c) && c &&
			strcmp(c, "av1") == 0)
			h->format = SL_FMT_AVIF;
	}
}

// open_header opens buf with the loader of format, which parses the header
// only: pixels are decoded when something asks for them. JPEG and PNG, the
// common case, go straight to their loader instead of asking every loader
// again whether it recognises the bytes.
static VipsImage *open_header(const void *buf, size_t len, int format)
{
	VipsImage *im = NULL;
	switch (format) {
	case SL_FMT_JPEG:
		if (vips_jpegload_buffer((void *) buf, len, &im,
			"access", VIPS_ACCESS_SEQUENTIAL, NULL))
			return NULL;
		return im;
	case SL_FMT_PNG:
		if (vips_pngload_buffer((void *) buf, len, &im,
			"access", VIPS_ACCESS_SEQUENTIAL, NULL))
			return NULL;
		return im;
	}
	return vips_image_new_from_buffer(buf, len, "",
		"access", VIPS_ACCESS_SEQUENTIAL, NULL);
}

int sl_probe(const void *buf, size_t len, sl_header *h)
{
	int format = source_format(buf, len);
	if (format == SL_FMT_UNKNOWN)
		return SL_ERR_UNSUPPORTED;
	VipsImage *im = open_header(buf, len, format);
	if (!im)
		return SL_ERR_INVALID;
	fill_header(im, format, h);
	// n-pages counts every frame, but height is one frame: a loader opened
	// with n=1 reports a single page as the whole image.
	if (h->height <= 0 || h->height > im->Ysize)
		h->height = im->Ysize;
	g_object_unref(im);
	return SL_OK;
}

// centre places in in the middle of a w x h box, padding with bg (or, with
// extend VIPS_EXTEND_COPY, the edge pixels) or cropping, frame by frame for
// animations: an animation is a vertical strip of frames, and thumbnail's
// own crop would cut the strip, not each frame.
static int centre(VipsImage *in, VipsImage **out, int w, int h,
	VipsExtend extend, double *bg, int nbg)
{
	VipsArrayDouble *background = vips_array_double_new(bg, nbg);
	int page_height = vips_image_get_page_height(in);
	int pages = in->Ysize / page_height;
	int ret = -1;

	if (pages <= 1) {
		ret = vips_gravity(in, out, VIPS_COMPASS_DIRECTION_CENTRE, w, h,
			"extend", extend,
			"background", background, NULL);
		vips_area_unref(VIPS_AREA(background));
		return ret;
	}

	VipsImage **frames = g_new0(VipsImage *, pages);
	VipsImage *joined = NULL;
	int i;
	for (i = 0; i < pages; i++) {
		VipsImage *frame;
		if (vips_crop(in, &frame, 0, i * page_height, in->Xsize,
			page_height, NULL))
			goto done;
		int r = vips_gravity(frame, &frames[i],
			VIPS_COMPASS_DIRECTION_CENTRE, w, h,
			"extend", extend,
			"background", background, NULL);
		g_object_unref(frame);
		if (r)
			goto done;
	}
	if (vips_arrayjoin(frames, &joined, pages, "across", 1, NULL))
		goto done;
	// Metadata is changed on a private copy, never on a shared image.
	if (vips_copy(joined, out, NULL))
		goto done;
	vips_image_set_int(*out, VIPS_META_PAGE_HEIGHT, h);
	ret = 0;
done:
	for (i = 0; i < pages; i++)
		if (frames[i])
			g_object_unref(frames[i]);
	g_free(frames);
	if (joined)
		g_object_unref(joined);
	vips_area_unref(VIPS_AREA(background));
	return ret;
}

static gboolean is_private_field(const char *name)
{
	static const char *exact[] = {
		VIPS_META_EXIF_NAME, VIPS_META_XMP_NAME, VIPS_META_IPTC_NAME,
		VIPS_META_PHOTOSHOP_NAME, VIPS_META_ICC_NAME,
		VIPS_META_IMAGEDESCRIPTION, "gif-comment", "jpeg-thumbnail-data",
	};
	static const char *prefix[] = {"exif-", "png-comment-", "heif-"};
	int i;
	for (i = 0; i < (int) G_N_ELEMENTS(exact); i++)
		if (strcmp(name, exact[i]) == 0)
			return TRUE;
	for (i = 0; i < (int) G_N_ELEMENTS(prefix); i++)
		if (g_str_has_prefix(name, prefix[i]))
			return TRUE;
	return FALSE;
}

static void *collect_private(VipsImage *im, const char *name, GValue *value,
	void *a)
{
	if (is_private_field(name))
		*(GSList **) a = g_slist_prepend(*(GSList **) a, g_strdup(name));
	return NULL;
}

// strip_metadata copies im without EXIF, XMP, IPTC, ICC and comments. The
// savers' strip option is not enough: webpsave in libvips 8.14 still writes
// the EXIF it finds on the image.
static int strip_metadata(VipsImage *in, VipsImage **out)
{
	GSList *names = NULL, *p;
	if (vips_copy(in, out, NULL))
		return -1;
	vips_image_map(*out, collect_private, &names);
	for (p = names; p; p = p->next)
		vips_image_remove(*out, (const char *) p->data);
	g_slist_free_full(names, g_free);
	return 0;
}

static int save(VipsImage *im, const sl_params *p, void **out, size_t *out_len)
{
	switch (p->format) {
	case SL_FMT_JPEG:
		return vips_jpegsave_buffer(im, out, out_len,
			"Q", p->quality, "strip", TRUE,
			"optimize_coding", TRUE, NULL);
	case SL_FMT_PNG:
		return vips_pngsave_buffer(im, out, out_len,
			"strip", TRUE, "compression", 6, NULL);
	case SL_FMT_WEBP:
		return vips_webpsave_buffer(im, out, out_len,
			"Q", p->quality, "strip", TRUE, NULL);
	case SL_FMT_AVIF:
		return vips_heifsave_buffer(im, out, out_len,
			"Q", p->quality, "strip", TRUE,
			"compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1,
			"effort", p->avif_effort, NULL);
	case SL_FMT_GIF:
		return vips_gifsave_buffer(im, out, out_len,
			"strip", TRUE, NULL);
	}
	vips_error("sluice", "no saver for format %d", p->format);
	return -1;
}

// sl_saver_works encodes a tiny image to prove the encoder is really there:
// heifsave can exist while libheif lacks an AV1 encoder.
int sl_saver_works(int format)
{
	VipsImage *im = NULL;
	void *buf = NULL;
	size_t len = 0;
	sl_params p = {0};
	p.format = format;
	p.quality = 50;
	p.avif_effort = 0;
	if (vips_black(&im, 16, 16, "bands", 3, NULL)) {
		vips_error_clear();
		return 0;
	}
	VipsImage *cast = NULL;
	int ok = !vips_cast(im, &cast, VIPS_FORMAT_UCHAR, NULL) &&
		!save(cast, &p, &buf, &len) && len > 0;
	if (cast)
		g_object_unref(cast);
	g_object_unref(im);
	g_free(buf);
	vips_error_clear();
	return ok;
}

struct sl_job {
	GMutex lock;
	VipsImage *watched;
	int cancelled;
};

sl_job *sl_job_new(void)
{
	sl_job *job = g_new0(sl_job, 1);
	g_mutex_init(&job->lock);
	return job;
}

void sl_job_cancel(sl_job *job)
{
	g_mutex_lock(&job->lock);
	job->cancelled = 1;
	if (job->watched)
		vips_image_set_kill(job->watched, TRUE);
	g_mutex_unlock(&job->lock);
}

void sl_job_free(sl_job *job)
{
	g_mutex_clear(&job->lock);
	g_free(job);
}

// watch makes im the image sl_job_cancel kills, or reports that the job was
// cancelled already. im == NULL stops watching before im is unreffed.
static int watch(sl_job *job, VipsImage *im)
{
	int cancelled;
	g_mutex_lock(&job->lock);
	job->watched = im;
	cancelled = job->cancelled;
	if (cancelled && im)
		vips_image_set_kill(im, TRUE);
	g_mutex_unlock(&job->lock);
	return cancelled;
}

// thumbnail_loaded makes the thumbnail of a loaded JPEG or PNG (neither
// shrinks on load inside vips_thumbnail beyond what the loader was told):
// with our own reduction when it applies (8-bit sRGB or grey without
// alpha, a plain reduction or enlargement), cropping a cover box as it
// goes; with libvips' thumbnail otherwise.
static int thumbnail_loaded(VipsImage *in, const sl_params *p, VipsImage **out)
{
	int r = 1;
	if (!p->no_fast && p->crop == VIPS_INTERESTING_NONE) {
		sl_box box = {0, 0};
		if (p->cover) {
			box.width = p->box_w;
			box.height = p->box_h;
		}
		r = sl_fast_thumbnail(in, p->width, p->height, p->size, box, out);
	}
	if (r > 0)
		r = vips_thumbnail_image(in, out, p->width,
			"height", p->height,
			"size", p->size,
			"crop", p->crop,
			NULL);
	return r ? -1 : 0;
}

int sl_resize(const void *buf, size_t len, const sl_params *p, sl_job *job,
	void **out, size_t *out_len, sl_header *h)
{
	VipsImage *t[5] = {NULL, NULL, NULL, NULL, NULL};
	VipsImage *im;
	int ret = SL_ERR_INVALID;
	int i;

	*out = NULL;
	*out_len = 0;
	// A JPEG or PNG the caller has probed goes to its own loader below,
	// which reads nothing else; every other source is checked again, as
	// thumbnail picks its loader from the bytes.
	int format = p->src_format;
	if (format != SL_FMT_JPEG && !(format == SL_FMT_PNG && !p->no_fast))
		format = source_format(buf, len);
	if (format == SL_FMT_UNKNOWN)
		return SL_ERR_UNSUPPORTED;

	// Loader options: stop on truncated or corrupt data instead of padding
	// with grey, and read every frame only when an animation is wanted.
	const char *opts = p->animated ? "fail_on=error,n=-1" : "fail_on=error";
	// thumbnail shrinks while decoding (JPEG DCT scaling, WebP and HEIF
	// scaled decode), applies the EXIF orientation and moves to sRGB.
	if (format == SL_FMT_JPEG || (format == SL_FMT_PNG && !p->no_fast)) {
		VipsImage *in;
		int r;
		if (format == SL_FMT_JPEG)
			r = vips_jpegload_buffer((void *) buf, len, &in,
				"shrink", VIPS_MAX(1, p->jpeg_shrink),
				"fail_on", VIPS_FAIL_ON_ERROR,
				"access", VIPS_ACCESS_SEQUENTIAL,
				NULL);
		else
			r = vips_pngload_buffer((void *) buf, len, &in,
				"fail_on", VIPS_FAIL_ON_ERROR,
				"access", VIPS_ACCESS_SEQUENTIAL,
				NULL);
		if (r)
			goto done;
		r = thumbnail_loaded(in, p, &t[0]);
		g_object_unref(in);
		if (r)
			goto done;
	} else if (vips_thumbnail_buffer((void *) buf, len, &t[0], p->width,
		"height", p->height,
		"size", p->size,
		"crop", p->crop,
		"option_string", opts,
		NULL))
		goto done;
	im = t[0];
	// Every later step pulls its pixels through t[0], so killing it stops
	// decoding, resizing and encoding alike.
	if (watch(job, t[0]))
		goto done;

	int max_alpha = im->Type == VIPS_INTERPRETATION_RGB16 ||
		im->Type == VIPS_INTERPRETATION_GREY16 ? 65535 : 255;
	if (p->format == SL_FMT_JPEG && vips_image_hasalpha(im)) {
		double white[1] = {max_alpha};
		VipsArrayDouble *bg = vips_array_double_new(white, 1);
		int r = vips_flatten(im, &t[1], "background", bg,
			"max_alpha", (double) max_alpha, NULL);
		vips_area_unref(VIPS_AREA(bg));
		if (r)
			goto done;
		im = t[1];
	}

	if (p->box_w > 0 && p->box_h > 0 &&
		(im->Xsize != p->box_w || vips_image_get_page_height(im) != p->box_h)) {
		// Padding is white under JPEG and transparent otherwise. A cover
		// box only crops: a side a rounding left a pixel short repeats
		// its edge instead.
		double bg[1] = {0};
		VipsExtend extend = p->cover ? VIPS_EXTEND_COPY : VIPS_EXTEND_BACKGROUND;
		if (!p->cover && (im->Xsize < p->box_w ||
			vips_image_get_page_height(im) < p->box_h)) {
			if (p->format == SL_FMT_JPEG) {
				bg[0] = max_alpha;
			} else if (!vips_image_hasalpha(im)) {
				if (vips_bandjoin_const1(im, &t[2], max_alpha, NULL))
					goto done;
				im = t[2];
			}
		}
		if (centre(im, &t[3], p->box_w, p->box_h, extend, bg, 1))
			goto done;
		im = t[3];
	}

	if (strip_metadata(im, &t[4]))
		goto done;
	im = t[4];
	if (save(im, p, out, out_len)) {
		ret = SL_ERR_SAVE;
		goto done;
	}
	h->width = im->Xsize;
	h->height = vips_image_get_page_height(im);
	h->pages = im->Ysize / h->height;
	h->orientation = 1;
	h->has_alpha = vips_image_hasalpha(im);
	h->format = p->format;
	ret = SL_OK;
done:
	if (watch(job, NULL) && ret != SL_OK)
		ret = SL_ERR_CANCELLED;
	for (i = 0; i < 5; i++)
		if (t[i])
			g_object_unref(t[i]);
	if (ret != SL_OK && *out) {
		g_free(*out);
		*out = NULL;
		*out_len = 0;
	}
	return ret;
}
