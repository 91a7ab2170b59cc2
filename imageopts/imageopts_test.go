package imageopts_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/imageopts"
)

func mustQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", raw, err)
	}
	return v
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		query string
		lim   imageopts.Limits
		want  imageopts.Options
		code  sluice.Code // expected error code, "" for success
		msg   []string    // substrings the error message must hold
	}{
		{name: "recipe", path: "/photo.jpg", query: "d=100x100",
			want: imageopts.Options{Width: 100, Height: 100, Fit: "cover", Format: "jpeg"}},
		{name: "width only", path: "/photo.jpg", query: "d=100x",
			want: imageopts.Options{Width: 100, Fit: "cover", Format: "jpeg"}},
		{name: "height only", path: "/a/b/photo.PNG", query: "d=x50",
			want: imageopts.Options{Height: 50, Fit: "cover", Format: "png"}},
		{name: "no transform", path: "/photo.jpg", query: "",
			want: imageopts.Options{}},
		{name: "only unknown params", path: "/photo.jpg", query: "utm_source=x&v=3",
			want: imageopts.Options{}},
		{name: "fit alone is no transform", path: "/photo.jpg", query: "fit=contain&animated=1",
			want: imageopts.Options{}},
		{name: "bad fit still checked without transform", path: "/photo.jpg", query: "fit=zoom",
			code: sluice.ErrInvalidArgument, msg: []string{"fit", "cover, contain"}},
		{name: "w h fit", path: "/p.jpeg", query: "w=300&h=200&fit=inside",
			want: imageopts.Options{Width: 300, Height: 200, Fit: "inside", Format: "jpeg"}},
		{name: "fit case-insensitive", path: "/p.jpeg", query: "w=300&fit=OUTSIDE",
			want: imageopts.Options{Width: 300, Fit: "outside", Format: "jpeg"}},
		{name: "format overrides ext", path: "/p.jpg", query: "d=10x10&format=webp&q=70",
			want: imageopts.Options{Width: 10, Height: 10, Fit: "cover", Format: "webp", Quality: 70}},
		{name: "format jpg alias", path: "/p.png", query: "format=JPG",
			want: imageopts.Options{Fit: "cover", Format: "jpeg"}},
		{name: "format auto", path: "/p.png", query: "d=5x&format=auto",
			want: imageopts.Options{Width: 5, Fit: "cover", Format: "auto"}},
		{name: "q alone recompresses", path: "/p.webp", query: "q=40",
			want: imageopts.Options{Fit: "cover", Format: "webp", Quality: 40}},
		{name: "no ext keeps source format", path: "/images/raw", query: "w=64",
			want: imageopts.Options{Width: 64, Fit: "cover"}},
		{name: "animated", path: "/a.gif", query: "w=64&animated=true",
			want: imageopts.Options{Width: 64, Fit: "cover", Format: "gif", Animated: true}},
		{name: "animated 0", path: "/a.gif", query: "w=64&animated=0",
			want: imageopts.Options{Width: 64, Fit: "cover", Format: "gif"}},
		{name: "max size exactly", path: "/a.jpg", query: "d=8192x8192",
			want: imageopts.Options{Width: 8192, Height: 8192, Fit: "cover", Format: "jpeg"}},

		{name: "bad d letters", path: "/a.jpg", query: "d=abc", code: sluice.ErrInvalidArgument, msg: []string{`d "abc"`, "WxH"}},
		{name: "bad d empty", path: "/a.jpg", query: "d=", code: sluice.ErrInvalidArgument, msg: []string{"d"}},
		{name: "bad d x only", path: "/a.jpg", query: "d=x", code: sluice.ErrInvalidArgument},
		{name: "bad d zero", path: "/a.jpg", query: "d=0x10", code: sluice.ErrInvalidArgument},
		{name: "bad d negative", path: "/a.jpg", query: "d=-1x10", code: sluice.ErrInvalidArgument},
		{name: "bad d uppercase X", path: "/a.jpg", query: "d=10X10", code: sluice.ErrInvalidArgument},
		{name: "bad d three parts", path: "/a.jpg", query: "d=10x10x10", code: sluice.ErrInvalidArgument},
		{name: "bad d plus sign", path: "/a.jpg", query: "d=%2B10x10", code: sluice.ErrInvalidArgument},
		{name: "bad w", path: "/a.jpg", query: "w=1.5", code: sluice.ErrInvalidArgument, msg: []string{"w", "positive integer"}},
		{name: "d with w", path: "/a.jpg", query: "d=10x10&w=5", code: sluice.ErrInvalidArgument, msg: []string{"w", "combined with d"}},
		{name: "d with h", path: "/a.jpg", query: "d=10x&h=5", code: sluice.ErrInvalidArgument, msg: []string{"h", "combined with d"}},
		{name: "too wide", path: "/a.jpg", query: "d=8193x1", code: sluice.ErrInvalidArgument, msg: []string{"8193", "8192"}},
		{name: "too tall custom", path: "/a.jpg", query: "h=201", lim: imageopts.Limits{MaxHeight: 200}, code: sluice.ErrInvalidArgument, msg: []string{"201", "200"}},
		{name: "huge number", path: "/a.jpg", query: "w=99999999999999999999999", code: sluice.ErrInvalidArgument, msg: []string{"exceeds"}},
		{name: "bad format", path: "/a.jpg", query: "format=bmp", code: sluice.ErrInvalidArgument, msg: []string{"format", "jpeg, png"}},
		{name: "q zero", path: "/a.jpg", query: "q=0", code: sluice.ErrInvalidArgument, msg: []string{"q", "1 to 100"}},
		{name: "q 101", path: "/a.jpg", query: "q=101", code: sluice.ErrInvalidArgument},
		{name: "bad animated", path: "/a.gif", query: "w=1&animated=yes", code: sluice.ErrInvalidArgument, msg: []string{"animated"}},
		{name: "repeated d", path: "/a.jpg", query: "d=1x1&d=2x2", code: sluice.ErrInvalidArgument, msg: []string{"d", "2 times"}},

		{name: "allowed size", path: "/a.jpg", query: "d=200x", lim: imageopts.Limits{AllowedSizes: []string{"100x100", "200x"}},
			want: imageopts.Options{Width: 200, Fit: "cover", Format: "jpeg"}},
		{name: "allowed size via w and h", path: "/a.jpg", query: "w=100&h=100", lim: imageopts.Limits{AllowedSizes: []string{"100x100"}},
			want: imageopts.Options{Width: 100, Height: 100, Fit: "cover", Format: "jpeg"}},
		{name: "allowed sizes do not bind format-only", path: "/a.jpg", query: "format=webp", lim: imageopts.Limits{AllowedSizes: []string{"100x100"}},
			want: imageopts.Options{Fit: "cover", Format: "webp"}},
		{name: "size not allowed", path: "/a.jpg", query: "d=100x", lim: imageopts.Limits{AllowedSizes: []string{"100x100", "x50"}},
			code: sluice.ErrInvalidArgument, msg: []string{"100x", "not allowed", "100x100, x50"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := imageopts.Parse(tc.path, mustQuery(t, tc.query), tc.lim)
			if tc.code != "" {
				if !sluice.IsCode(err, tc.code) {
					t.Fatalf("Parse(%q, %q) = %+v, %v; want code %s", tc.path, tc.query, got, err, tc.code)
				}
				for _, m := range tc.msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not mention %q", err, m)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tc.path, tc.query, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q, %q) mismatch (-want +got):\n%s", tc.path, tc.query, diff)
			}
			if got.IsZero() != (tc.want == imageopts.Options{}) {
				t.Errorf("IsZero() = %v", got.IsZero())
			}
		})
	}
}

func TestSignature(t *testing.T) {
	key := []byte("s3cret")
	lim := imageopts.Limits{SigningKey: key}
	signed := func(path, raw string) string {
		q := mustQuery(t, raw)
		q.Set("sig", imageopts.Sign(key, path, q))
		return q.Encode()
	}
	tests := []struct {
		name  string
		path  string
		query string
		code  sluice.Code
	}{
		{name: "signed", path: "/p.jpg", query: signed("/p.jpg", "d=100x100")},
		{name: "signed with extra unsigned param", path: "/p.jpg", query: signed("/p.jpg", "d=100x100") + "&utm=1"},
		{name: "escaped path signs as decoded", path: "/a%20b.jpg", query: signed("/a b.jpg", "d=1x1")},
		{name: "no transform needs no sig", path: "/p.jpg", query: "v=1"},
		{name: "missing", path: "/p.jpg", query: "d=100x100", code: sluice.ErrAccessDenied},
		{name: "empty", path: "/p.jpg", query: "d=100x100&sig=", code: sluice.ErrAccessDenied},
		{name: "garbage", path: "/p.jpg", query: "d=100x100&sig=!!!", code: sluice.ErrAccessDenied},
		{name: "other size", path: "/p.jpg", query: strings.Replace(signed("/p.jpg", "d=100x100"), "100x100", "100x101", 1), code: sluice.ErrAccessDenied},
		{name: "other path", path: "/q.jpg", query: signed("/p.jpg", "d=100x100"), code: sluice.ErrAccessDenied},
		{name: "param added", path: "/p.jpg", query: signed("/p.jpg", "d=100x100") + "&q=5", code: sluice.ErrAccessDenied},
		{name: "other key", path: "/p.jpg", query: "d=1x1&sig=" + imageopts.Sign([]byte("other"), "/p.jpg", mustQuery(t, "d=1x1")), code: sluice.ErrAccessDenied},
		// The edge rewrites format=auto into the negotiated format or drops it.
		{name: "auto negotiated to avif", path: "/p.jpg", query: strings.Replace(signed("/p.jpg", "d=1x1&format=auto"), "format=auto", "format=avif", 1)},
		{name: "auto negotiated to webp", path: "/p.jpg", query: strings.Replace(signed("/p.jpg", "d=1x1&format=auto"), "format=auto", "format=webp", 1)},
		{name: "auto dropped", path: "/p.jpg", query: strings.Replace(signed("/p.jpg", "d=1x1&format=auto"), "&format=auto", "", 1)},
		{name: "auto is no licence for png", path: "/p.jpg", query: strings.Replace(signed("/p.jpg", "d=1x1&format=auto"), "format=auto", "format=png", 1), code: sluice.ErrAccessDenied},
		{name: "fixed format not switchable", path: "/p.jpg", query: strings.Replace(signed("/p.jpg", "d=1x1&format=png"), "format=png", "format=webp", 1), code: sluice.ErrAccessDenied},
		{name: "no format not switchable", path: "/p.jpg", query: signed("/p.jpg", "d=1x1") + "&format=webp", code: sluice.ErrAccessDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := imageopts.Parse(tc.path, mustQuery(t, tc.query), lim)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Parse(%q, %q): %v", tc.path, tc.query, err)
				}
				return
			}
			if !sluice.IsCode(err, tc.code) {
				t.Fatalf("Parse(%q, %q) error = %v; want %s", tc.path, tc.query, err, tc.code)
			}
		})
	}
}

// TestSignKnownValue pins the documented algorithm so that clients in other
// languages can reproduce it: HMAC-SHA256 over "/p.jpg?d=100x100&format=webp".
func TestSignKnownValue(t *testing.T) {
	// Computed independently: printf '/p.jpg?d=100x100&format=webp' | openssl dgst -sha256 -hmac key -binary | basenc --base64url (padding dropped)
	const want = "Fzt9Y522S_ZB3CbLVkV1nXmIkSdoWXZqfJkYD5ZzZeg"
	got := imageopts.Sign([]byte("key"), "/p.jpg", mustQuery(t, "format=webp&sig=zzz&d=100x100&utm=x"))
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name, accept, want string
	}{
		{"chrome", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "avif"},
		{"safari webp only", "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", "webp"},
		{"empty", "", ""},
		{"wildcards only", "image/*,*/*", ""},
		{"avif refused", "image/avif;q=0, image/webp", "webp"},
		{"avif refused with spaces", "image/avif ; q=0.000 ,image/webp;q=0.1", "webp"},
		{"both refused", "image/avif;q=0,image/webp;q=0", ""},
		{"webp preferred by q", "image/avif;q=0.5,image/webp;q=0.9", "webp"},
		{"tie goes to avif", "image/webp;q=0.5,image/avif;q=0.5", "avif"},
		{"case-insensitive", "IMAGE/AVIF;Q=1", "avif"},
		{"malformed q ignored", "image/avif;q=abc,image/webp", "webp"},
		{"q above one ignored", "image/avif;q=2,image/webp", "webp"},
		{"q 1.000", "image/avif;q=1.000", "avif"},
		{"q 1.001 invalid", "image/avif;q=1.001", ""},
		{"q too many decimals", "image/webp;q=0.0001", ""},
		{"other params", "image/webp;level=1;q=0.3", "webp"},
		{"first mention decides", "image/avif;q=0,image/avif", ""},
		{"suffix is not a match", "image/avif2,image/webpx", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := imageopts.Negotiate(tc.accept); got != tc.want {
				t.Errorf("Negotiate(%q) = %q, want %q", tc.accept, got, tc.want)
			}
		})
	}
}

func TestFormatFromExt(t *testing.T) {
	tests := map[string]string{
		"/a.jpg": "jpeg", "/a.JPEG": "jpeg", "/x/y.png": "png", "/a.webp": "webp", "/a.avif": "avif",
		"/a.gif": "gif", "/a.tiff": "", "/a": "", "/dir.jpg/a": "", "": "", "/a.jpg.bak": "",
	}
	for p, want := range tests {
		if got := imageopts.FormatFromExt(p); got != want {
			t.Errorf("FormatFromExt(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name string
		in   imageopts.Options
		want string
	}{
		{"zero", imageopts.Options{}, ""},
		{"recipe", imageopts.Options{Width: 100, Height: 100, Fit: "cover", Format: "jpeg"}, "d=100x100&fit=cover&format=jpeg"},
		{"all", imageopts.Options{Height: 7, Fit: "fill", Format: "webp", Quality: 9, Animated: true}, "animated=true&d=x7&fit=fill&format=webp&q=9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := imageopts.CanonicalQuery(tc.in); got != tc.want {
				t.Errorf("CanonicalQuery = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		lim  imageopts.Limits
		bad  string // substring of the error, "" for valid
	}{
		{"default", imageopts.DefaultLimits(), ""},
		{"zero", imageopts.Limits{}, ""},
		{"sizes", imageopts.Limits{AllowedSizes: []string{"100x100", "200x", "x50"}}, ""},
		{"negative", imageopts.Limits{MaxWidth: -1}, "MaxWidth"},
		{"bad size", imageopts.Limits{AllowedSizes: []string{"100"}}, `"100"`},
		{"leading zero", imageopts.Limits{AllowedSizes: []string{"0100x1"}}, `"0100x1"`},
		{"size over max", imageopts.Limits{MaxWidth: 50, AllowedSizes: []string{"100x"}}, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.lim.Validate()
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Errorf("Validate = %v, want an error mentioning %q", err, tc.bad)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, that every error is a 400 or 403
// domain error, and that whatever it accepts re-parses from CanonicalQuery
// to the same Options.
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ path, query string }{
		{"/photo.jpg", "d=100x100"},
		{"/photo.jpg", "d=100x"},
		{"/photo.png", "d=x50&format=webp&q=80"},
		{"/a.gif", "w=10&h=20&fit=inside&animated=true"},
		{"/a", "format=auto"},
		{"/a.jpg", "d=10x10&w=5"},
		{"/a.jpg", "d=99999999999999999999x1"},
		{"/a.jpg", "q=0&fit=x"},
		{"/a.jpg", "d=1x1&d=2x2"},
		{"/a%20b.webp", "format=JPG&sig=abc"},
		{"/a.jpg", "%zz"},
	} {
		f.Add(s.path, s.query, false)
		f.Add(s.path, s.query, true)
	}
	f.Fuzz(func(t *testing.T, path, rawQuery string, restricted bool) {
		query, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		lim := imageopts.Limits{}
		if restricted {
			lim = imageopts.Limits{MaxWidth: 1000, MaxHeight: 1000, AllowedSizes: []string{"100x100", "200x", "x50"}}
		}
		o, err := imageopts.Parse(path, query, lim)
		if err != nil {
			if c := sluice.ErrorCode(err); c != sluice.ErrInvalidArgument && c != sluice.ErrAccessDenied {
				t.Fatalf("Parse(%q, %q) error code %s: %v", path, rawQuery, c, err)
			}
			return
		}
		again, err := imageopts.Parse(path, mustQuery(t, imageopts.CanonicalQuery(o)), lim)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", imageopts.CanonicalQuery(o), rawQuery, err)
		}
		if diff := cmp.Diff(o, again); diff != "" {
			t.Fatalf("re-parse of %q (from %q) differs (-first +again):\n%s", imageopts.CanonicalQuery(o), rawQuery, diff)
		}
		// Signed, the same query must pass a signing key.
		key := []byte("k")
		signed := url.Values{}
		for k, v := range query {
			signed[k] = v
		}
		delete(signed, "sig")
		signed.Set("sig", imageopts.Sign(key, path, signed))
		lim.SigningKey = key
		if o2, err := imageopts.Parse(path, signed, lim); err != nil || o2 != o {
			t.Fatalf("signed Parse(%q, %q) = %+v, %v; want %+v", path, signed.Encode(), o2, err, o)
		}
	})
}

// FuzzNegotiate checks that Negotiate never panics and answers only avif,
// webp or "", and never a format the header refuses with q=0.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"image/avif,image/webp,*/*;q=0.8", "image/webp;q=0", "image/avif;q=0.5,image/webp;q=0.9",
		"image/avif;;q=", ";,;=,", "IMAGE/WEBP ; Q = 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := imageopts.Negotiate(accept)
		switch got {
		case "":
		case "avif", "webp":
			if !strings.Contains(strings.ToLower(accept), "image/"+got) {
				t.Fatalf("Negotiate(%q) = %q, which the header does not name", accept, got)
			}
		default:
			t.Fatalf("Negotiate(%q) = %q", accept, got)
		}
	})
}
