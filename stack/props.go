package stack

import (
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// anyKeys accepts every key (a map of user-chosen names).
var anyKeys = []string{"*"}

// obj reads the properties of one evaluated map, reporting wrong types and
// unknown keys at their position.
type obj struct {
	l    *loader
	n    *node
	path string
	// ignored are accepted properties Sluice does not act on: each one set
	// is named in a warning.
	known   []string
	ignored []string
}

func (l *loader) obj(n *node, path string, known, ignored []string) *obj {
	o := &obj{l: l, n: n, path: path, known: known, ignored: ignored}
	if n == nil || n.bad {
		o.n = nil
		return o
	}
	if n.kind != kMap {
		l.errf(n.pos, path, "must be a map, got %s", describe(n))
		o.n = nil
		return o
	}
	for i, k := range n.keys {
		switch {
		case slices.Equal(known, anyKeys), slices.Contains(known, k):
		case slices.Contains(ignored, k):
			l.warn("%s.%s: ignored by Sluice", path, k)
		default:
			hint := ""
			if len(known) > 0 {
				hint = " (expected one of " + strings.Join(known, ", ") + ")"
			}
			l.errf(n.keyPos[i], path+"."+k, "unknown property%s", hint)
		}
	}
	return o
}

func (o *obj) get(key string) *node {
	if o.n == nil {
		return nil
	}
	v := o.n.get(key)
	if v == nil || v.bad {
		return nil
	}
	return v
}

// failed reports whether key is set to a value whose evaluation already
// reported an error.
func (o *obj) failed(key string) bool {
	if o.n == nil {
		return false
	}
	v := o.n.get(key)
	return v != nil && v.bad
}

func (o *obj) has(key string) bool { return o.n != nil && o.n.get(key) != nil }

func (o *obj) at(key string) pos {
	if o.n == nil {
		return pos{}
	}
	return o.n.keyPosOf(key)
}

func (o *obj) errf(key, format string, args ...any) {
	p := o.path
	if key != "" {
		p += "." + key
	}
	o.l.errf(o.at(key), p, format, args...)
}

func (o *obj) require(keys ...string) {
	if o.n == nil {
		return
	}
	for _, k := range keys {
		if o.n.get(k) == nil {
			o.l.errf(o.n.pos, o.path, "%s is required", k)
		}
	}
}

func (o *obj) str(key string) string {
	v := o.get(key)
	if v == nil {
		return ""
	}
	if v.kind != kScalar {
		o.errf(key, "must be a string, got %s", describe(v))
		return ""
	}
	return v.str
}

// intIn reads an integer in [lo, hi]; ok is false when absent or wrong.
func (o *obj) intIn(key string, lo, hi int) (int, bool) {
	v := o.get(key)
	if v == nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.str))
	if v.kind != kScalar || err != nil || n < lo || n > hi {
		o.errf(key, "must be an integer between %d and %d, got %s", lo, hi, describe(v))
		return 0, false
	}
	return n, true
}

func (o *obj) int64In(key string, lo, hi int64) (int64, bool) {
	v := o.get(key)
	if v == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.str), 10, 64)
	if v.kind != kScalar || err != nil || n < lo || n > hi {
		o.errf(key, "must be an integer between %d and %d, got %s", lo, hi, describe(v))
		return 0, false
	}
	return n, true
}

func (o *obj) boolean(key string) (bool, bool) {
	v := o.get(key)
	if v == nil {
		return false, false
	}
	b, ok := asBool(v)
	if !ok {
		o.errf(key, "must be true or false, got %s", describe(v))
	}
	return b, ok
}

// strList reads a list of strings; a single string is a one-item list
// where single says so (SAM's Events: s3:ObjectCreated:*).
func (o *obj) strList(key string, single bool) []string {
	v := o.get(key)
	if v == nil {
		return nil
	}
	if v.kind == kScalar && single {
		return []string{v.str}
	}
	if v.kind != kSeq {
		o.errf(key, "must be a list of strings, got %s", describe(v))
		return nil
	}
	out := make([]string, 0, len(v.items))
	for i, it := range v.items {
		if it.bad {
			continue
		}
		if it.kind != kScalar {
			o.l.errf(it.pos, o.path+"."+key+"["+strconv.Itoa(i)+"]", "must be a string, got %s", describe(it))
			continue
		}
		out = append(out, it.str)
	}
	return out
}

// list returns the items of a list property.
func (o *obj) list(key string) []*node {
	v := o.get(key)
	if v == nil {
		return nil
	}
	if v.kind != kSeq {
		o.errf(key, "must be a list, got %s", describe(v))
		return nil
	}
	var out []*node
	for _, it := range v.items {
		if !it.bad {
			out = append(out, it)
		}
	}
	return out
}

func (o *obj) child(key string, known, ignored []string) *obj {
	v := o.get(key)
	if v == nil {
		return &obj{l: o.l, path: o.path + "." + key}
	}
	return o.l.obj(v, o.path+"."+key, known, ignored)
}

func (o *obj) item(i int, n *node, key string, known, ignored []string) *obj {
	return o.l.obj(n, o.path+"."+key+"["+strconv.Itoa(i)+"]", known, ignored)
}

// strMap reads a map of strings (Environment.Variables, SAM Tags).
func (o *obj) strMap(key string) map[string]string {
	v := o.get(key)
	if v == nil {
		return nil
	}
	if v.kind != kMap {
		o.errf(key, "must be a map of strings, got %s", describe(v))
		return nil
	}
	out := make(map[string]string, len(v.keys))
	for i, k := range v.keys {
		x := v.vals[i]
		if x.bad {
			continue
		}
		if x.kind == kNull {
			out[k] = ""
			continue
		}
		if x.kind != kScalar {
			o.l.errf(v.keyPos[i], o.path+"."+key+"."+k, "must be a string, got %s", describe(x))
			continue
		}
		out[k] = x.str
	}
	return out
}

// tagList reads CloudFormation's [{Key, Value}] tags.
func (o *obj) tagList(key string) []sluice.Tag {
	var out []sluice.Tag
	for i, it := range o.list(key) {
		t := o.item(i, it, key, []string{"Key", "Value"}, nil)
		t.require("Key", "Value")
		k := t.str("Key")
		if k == "" {
			continue
		}
		out = append(out, sluice.Tag{Key: k, Value: t.str("Value")})
	}
	return out
}
