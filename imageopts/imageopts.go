// Package imageopts parses and validates the query parameters that ask the
// edge for a transformed image: the well-known resize recipe's d=WxH and
// Sluice's w, h, fit, format, q and animated. It also negotiates the output
// format from an Accept header (format=auto) and computes and checks the
// optional HMAC signature that production setups use to stop strangers from
// minting variants.
//
// It is pure Go with no state: every function is safe for concurrent use.
// Errors are *sluice.Error: InvalidArgument (HTTP 400) for a bad parameter,
// AccessDenied (HTTP 403) for a missing or wrong signature.
package imageopts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// Parameter names Parse reads. Every other parameter is ignored: it belongs
// to the application, a tracker or another function.
const (
	ParamDimensions = "d"
	ParamWidth      = "w"
	ParamHeight     = "h"
	ParamFit        = "fit"
	ParamFormat     = "format"
	ParamQuality    = "q"
	ParamAnimated   = "animated"
	ParamSignature  = "sig"
)

// transformParams are the parameters a signature covers, in sorted order.
var transformParams = []string{ParamAnimated, ParamDimensions, ParamFit, ParamFormat, ParamHeight, ParamQuality, ParamWidth}

// Fit modes, with sharp's and libvips' meaning.
const (
	// FitCover fills the whole box and crops what overflows (the recipe's d=WxH).
	FitCover = "cover"
	// FitContain fits inside the box and pads the rest.
	FitContain = "contain"
	// FitInside fits inside the box without padding: the result may be smaller on one side.
	FitInside = "inside"
	// FitOutside covers the box without cropping: the result may be larger on one side.
	FitOutside = "outside"
	// FitFill stretches to the box, ignoring the aspect ratio.
	FitFill = "fill"
)

// Output formats. FormatAuto is replaced by the edge with what Negotiate
// returns before the transform runs.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatWebP = "webp"
	FormatAVIF = "avif"
	FormatGIF  = "gif"
	FormatAuto = "auto"
)

// DefaultMaxDimension bounds a requested width or height by default.
const DefaultMaxDimension = 8192

// Options is a parsed transform. The zero value asks for nothing: the
// original is served.
type Options struct {
	// Width and Height of the box; 0 keeps the aspect ratio from the other
	// side, both 0 keep the source's size.
	Width, Height int
	// Fit is one of the Fit* modes; FitCover unless asked otherwise.
	Fit string
	// Format is the output format: one of the Format* values ("auto" only
	// before negotiation), or "" to keep the source's format when the path
	// has no image extension.
	Format string
	// Quality is 1-100, or 0 for the encoder's default.
	Quality int
	// Animated keeps every frame of an animated source; false keeps the first.
	Animated bool
}

// IsZero reports whether o asks for no transform.
func (o Options) IsZero() bool { return o == Options{} }

// Limits are the operator's bounds on what a request may ask for.
type Limits struct {
	// MaxWidth and MaxHeight bound the requested box; 0 means DefaultMaxDimension.
	MaxWidth, MaxHeight int
	// AllowedSizes, when not empty, lists the only sizes a request may ask
	// for, written as d is ("100x100", "200x", "x50").
	AllowedSizes []string
	// SigningKey, when not empty, makes a transform require a sig parameter
	// equal to Sign(SigningKey, path, query).
	SigningKey []byte
}

// DefaultLimits returns the limits used when none are configured.
func DefaultLimits() Limits {
	return Limits{MaxWidth: DefaultMaxDimension, MaxHeight: DefaultMaxDimension}
}

// Validate reports the first invalid setting.
func (l Limits) Validate() error {
	if l.MaxWidth < 0 {
		return fmt.Errorf("imageopts: MaxWidth: %d is negative", l.MaxWidth)
	}
	if l.MaxHeight < 0 {
		return fmt.Errorf("imageopts: MaxHeight: %d is negative", l.MaxHeight)
	}
	for _, s := range l.AllowedSizes {
		w, h, ok := parseDimensions(s)
		if !ok || formatSize(w, h) != s {
			return fmt.Errorf("imageopts: AllowedSizes: %q is not WxH, Wx or xH with positive integers without leading zeros", s)
		}
		if w > l.maxWidth() || h > l.maxHeight() {
			return fmt.Errorf("imageopts: AllowedSizes: %q exceeds MaxWidth %d or MaxHeight %d", s, l.maxWidth(), l.maxHeight())
		}
	}
	return nil
}

func (l Limits) maxWidth() int {
	if l.MaxWidth <= 0 {
		return DefaultMaxDimension
	}
	return l.MaxWidth
}

func (l Limits) maxHeight() int {
	if l.MaxHeight <= 0 {
		return DefaultMaxDimension
	}
	return l.MaxHeight
}

// Parse reads the transform that query asks of the image at path (the URI
// path, as received). A transform is asked when any of d, w, h, format or q
// is present; fit and animated only qualify one. Without a transform Parse
// returns the zero Options, after still checking every parameter it knows.
//
// d is WxH, Wx or xH; w and h are single sides; d and w/h together are an
// error. The output format is format when given, else the one the path's
// extension names. Each parameter may appear once.
func Parse(path string, query url.Values, lim Limits) (Options, error) {
	var o Options
	get := func(name string) (string, bool, error) {
		vs, ok := query[name]
		if !ok || len(vs) == 0 {
			return "", false, nil
		}
		if len(vs) > 1 {
			return "", true, invalid("parameter %s is given %d times; give it once", name, len(vs))
		}
		return vs[0], true, nil
	}

	asked := false
	d, hasD, err := get(ParamDimensions)
	if err != nil {
		return Options{}, err
	}
	if hasD {
		w, h, ok := parseDimensions(d)
		if !ok {
			return Options{}, invalid("invalid d %q: want WxH, Wx or xH with positive integers", clip(d))
		}
		o.Width, o.Height, asked = w, h, true
	}
	for _, side := range []struct {
		name string
		dst  *int
	}{{ParamWidth, &o.Width}, {ParamHeight, &o.Height}} {
		v, ok, err := get(side.name)
		if err != nil {
			return Options{}, err
		}
		if !ok {
			continue
		}
		if hasD {
			return Options{}, invalid("parameter %s cannot be combined with d; use d=WxH or w and h", side.name)
		}
		n, ok := parsePositive(v)
		if !ok {
			return Options{}, invalid("invalid %s %q: want a positive integer", side.name, clip(v))
		}
		*side.dst, asked = n, true
	}
	if o.Width > lim.maxWidth() {
		return Options{}, invalid("width %d exceeds the maximum of %d", o.Width, lim.maxWidth())
	}
	if o.Height > lim.maxHeight() {
		return Options{}, invalid("height %d exceeds the maximum of %d", o.Height, lim.maxHeight())
	}

	fit, hasFit, err := get(ParamFit)
	if err != nil {
		return Options{}, err
	}
	o.Fit = FitCover
	if hasFit {
		switch f := strings.ToLower(fit); f {
		case FitCover, FitContain, FitInside, FitOutside, FitFill:
			o.Fit = f
		default:
			return Options{}, invalid("invalid fit %q: want cover, contain, inside, outside or fill", clip(fit))
		}
	}

	format, hasFormat, err := get(ParamFormat)
	if err != nil {
		return Options{}, err
	}
	o.Format = FormatFromExt(path)
	if hasFormat {
		switch f := strings.ToLower(format); f {
		case "jpg", FormatJPEG:
			o.Format = FormatJPEG
		case FormatPNG, FormatWebP, FormatAVIF, FormatGIF, FormatAuto:
			o.Format = f
		default:
			return Options{}, invalid("invalid format %q: want jpeg, png, webp, avif, gif or auto", clip(format))
		}
		asked = true
	}

	q, hasQ, err := get(ParamQuality)
	if err != nil {
		return Options{}, err
	}
	if hasQ {
		n, ok := parsePositive(q)
		if !ok || n > 100 {
			return Options{}, invalid("invalid q %q: want an integer from 1 to 100", clip(q))
		}
		o.Quality, asked = n, true
	}

	anim, hasAnim, err := get(ParamAnimated)
	if err != nil {
		return Options{}, err
	}
	if hasAnim {
		switch strings.ToLower(anim) {
		case "true", "1":
			o.Animated = true
		case "false", "0":
		default:
			return Options{}, invalid("invalid animated %q: want true, false, 1 or 0", clip(anim))
		}
	}

	if !asked {
		return Options{}, nil
	}
	if len(lim.AllowedSizes) > 0 && (o.Width != 0 || o.Height != 0) {
		if size := formatSize(o.Width, o.Height); !slices.Contains(lim.AllowedSizes, size) {
			return Options{}, invalid("size %s is not allowed; allowed sizes are %s", size, strings.Join(lim.AllowedSizes, ", "))
		}
	}
	if len(lim.SigningKey) > 0 {
		if err := verify(lim.SigningKey, path, query); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

// CanonicalQuery renders o as the query string that Parse maps back to o
// for a path whose extension names no other format: parameters in name
// order, d for the size. The zero Options renders as "".
func CanonicalQuery(o Options) string {
	if o.IsZero() {
		return ""
	}
	v := url.Values{}
	if o.Animated {
		v.Set(ParamAnimated, "true")
	}
	if o.Width != 0 || o.Height != 0 {
		v.Set(ParamDimensions, formatSize(o.Width, o.Height))
	}
	if o.Fit != "" {
		v.Set(ParamFit, o.Fit)
	}
	if o.Format != "" {
		v.Set(ParamFormat, o.Format)
	}
	if o.Quality != 0 {
		v.Set(ParamQuality, strconv.Itoa(o.Quality))
	}
	return v.Encode()
}

// FormatFromExt returns the output format a path's extension names
// (case-insensitive), or "" when it names none.
func FormatFromExt(p string) string {
	switch strings.ToLower(path.Ext(p)) {
	case ".jpg", ".jpeg":
		return FormatJPEG
	case ".png":
		return FormatPNG
	case ".webp":
		return FormatWebP
	case ".avif":
		return FormatAVIF
	case ".gif":
		return FormatGIF
	}
	return ""
}

// Negotiate picks the output for format=auto from an Accept header:
// "avif" or "webp" when the client lists them with a q-value above zero
// (the higher q wins, avif on a tie), "" when it lists neither. Wildcards
// do not count: a client that says */* has not said it decodes AVIF.
func Negotiate(accept string) string {
	avif, webp := -1.0, -1.0
	for accept != "" {
		var item string
		item, accept, _ = strings.Cut(accept, ",")
		mediaType, params, _ := strings.Cut(item, ";")
		mediaType = strings.TrimSpace(mediaType)
		var dst *float64
		switch {
		case strings.EqualFold(mediaType, "image/avif"):
			dst = &avif
		case strings.EqualFold(mediaType, "image/webp"):
			dst = &webp
		default:
			continue
		}
		if *dst >= 0 {
			continue // the first mention of a type decides
		}
		if q, ok := qValue(params); ok {
			*dst = q
		}
	}
	switch {
	case avif > 0 && avif >= webp:
		return FormatAVIF
	case webp > 0:
		return FormatWebP
	}
	return ""
}

// qValue finds q= among a media range's parameters; 1 when absent, false
// when malformed (RFC 9110: 0 to 1 with at most three decimals).
func qValue(params string) (float64, bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		value = strings.TrimSpace(value)
		if !validQ(value) {
			return 0, false
		}
		q, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, false
		}
		return q, true
	}
	return 1, true
}

func validQ(s string) bool {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return false
	}
	if len(s) == 1 {
		return true
	}
	if s[1] != '.' || len(s) > 5 {
		return false
	}
	for _, c := range s[2:] {
		if c < '0' || c > '9' || (s[0] == '1' && c != '0') {
			return false
		}
	}
	return true
}

// Sign returns the signature a URL needs when Limits.SigningKey is set:
// base64url without padding of HMAC-SHA256(key, message), where message is
// the URI path percent-decoded, '?', and the transform parameters the query
// holds (d, w, h, fit, format, q, animated — never sig or anything else)
// sorted by name and written name=value with the value query-escaped (as
// Go's url.Values.Encode does), joined by '&'. Parameters Parse ignores are
// not signed, so a tracking parameter added later does not break a URL.
//
// A URL signed with format=auto stays valid when the edge replaces auto
// with the negotiated format or drops it.
func Sign(key []byte, path string, query url.Values) string {
	return base64.RawURLEncoding.EncodeToString(signature(key, path, query, ""))
}

// signature computes the MAC; formatOverride, when set, replaces the
// query's format parameter.
func signature(key []byte, p string, query url.Values, formatOverride string) []byte {
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(p))
	mac.Write([]byte{'?'})
	first := true
	for _, name := range transformParams {
		vs := query[name]
		if name == ParamFormat && formatOverride != "" {
			vs = []string{formatOverride}
		}
		for _, v := range vs {
			if !first {
				mac.Write([]byte{'&'})
			}
			first = false
			mac.Write([]byte(name))
			mac.Write([]byte{'='})
			mac.Write([]byte(url.QueryEscape(v)))
		}
	}
	return mac.Sum(nil)
}

// verify checks query's sig parameter. A URL signed with format=auto
// reaches here with the format the edge negotiated (avif or webp) or with
// no format at all, so those forms are also checked against auto.
func verify(key []byte, p string, query url.Values) error {
	sigs := query[ParamSignature]
	if len(sigs) == 0 || sigs[0] == "" {
		return sluice.Errorf(sluice.ErrAccessDenied, "this image transform requires a sig parameter")
	}
	if len(sigs) > 1 {
		return sluice.Errorf(sluice.ErrAccessDenied, "parameter sig is given %d times; give it once", len(sigs))
	}
	got, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sigs[0], "="))
	if err != nil || len(got) != sha256.Size {
		return sluice.Errorf(sluice.ErrAccessDenied, "the sig parameter is not a base64url HMAC-SHA256")
	}
	if hmac.Equal(got, signature(key, p, query, "")) {
		return nil
	}
	formats := query[ParamFormat]
	negotiable := len(formats) == 0 ||
		(len(formats) == 1 && (strings.EqualFold(formats[0], FormatAVIF) || strings.EqualFold(formats[0], FormatWebP)))
	if negotiable && hmac.Equal(got, signature(key, p, query, FormatAuto)) {
		return nil
	}
	return sluice.Errorf(sluice.ErrAccessDenied, "the sig parameter does not match the path and transform parameters")
}

// parseDimensions parses WxH, Wx or xH.
func parseDimensions(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	if !found || (ws == "" && hs == "") {
		return 0, 0, false
	}
	if ws != "" {
		if w, ok = parsePositive(ws); !ok {
			return 0, 0, false
		}
	}
	if hs != "" {
		if h, ok = parsePositive(hs); !ok {
			return 0, 0, false
		}
	}
	return w, h, true
}

// parsePositive accepts decimal digits only (no sign, no spaces) with a
// value of at least 1. Values too large for any limit saturate rather than
// fail, so the caller reports them as over the maximum.
func parsePositive(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<30 {
			n = n*10 + int(c-'0')
		}
	}
	return n, n > 0
}

// formatSize writes a size as d is written.
func formatSize(w, h int) string {
	var b strings.Builder
	if w > 0 {
		b.WriteString(strconv.Itoa(w))
	}
	b.WriteByte('x')
	if h > 0 {
		b.WriteString(strconv.Itoa(h))
	}
	return b.String()
}

func invalid(format string, args ...any) *sluice.Error {
	return sluice.Errorf(sluice.ErrInvalidArgument, format, args...)
}

// clip keeps echoed values short: they end up in error bodies and logs.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
