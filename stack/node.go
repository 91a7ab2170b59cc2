package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// kind is the shape of a template value.
type kind int

const (
	kNull kind = iota
	kScalar
	kMap
	kSeq
)

// node is a template value with its position. Short-form tags (!Ref X) are
// turned into their long form ({Ref: X}) when the tree is built, so the
// evaluator sees one syntax.
type node struct {
	kind kind
	// str is a scalar's text; quoted tells a YAML string "1" from the
	// number 1, and tag is the YAML core tag (!!int, !!bool, ...).
	str    string
	tag    string
	keys   []string
	keyPos []pos
	vals   []*node
	items  []*node
	pos    pos
	// bad marks the result of an expression that already reported an
	// error, so that nothing reports it again.
	bad bool
}

type pos struct{ line, col int }

func (n *node) get(key string) *node {
	if n == nil || n.kind != kMap {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

func (n *node) keyPosOf(key string) pos {
	for i, k := range n.keys {
		if k == key {
			return n.keyPos[i]
		}
	}
	return n.pos
}

func (n *node) set(key string, v *node, p pos) {
	for i, k := range n.keys {
		if k == key {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, key)
	n.keyPos = append(n.keyPos, p)
	n.vals = append(n.vals, v)
}

// fnName reports whether n is an intrinsic function call: a map with exactly
// one key that is Ref, Condition or starts with "Fn::".
func (n *node) fnName() (string, *node, bool) {
	if n == nil || n.kind != kMap || len(n.keys) != 1 {
		return "", nil, false
	}
	k := n.keys[0]
	if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
		return k, n.vals[0], true
	}
	return "", nil, false
}

func scalar(s string, p pos) *node { return &node{kind: kScalar, str: s, tag: "!!str", pos: p} }

func describe(n *node) string {
	switch {
	case n == nil || n.kind == kNull:
		return "null"
	case n.kind == kMap:
		return "a map"
	case n.kind == kSeq:
		return "a list"
	}
	return fmt.Sprintf("%q", n.str)
}

// shortTags maps the YAML short forms to the long form's key.
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!Join": "Fn::Join", "!Select": "Fn::Select",
	"!Split": "Fn::Split", "!If": "Fn::If", "!Equals": "Fn::Equals", "!Not": "Fn::Not",
	"!And": "Fn::And", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
	"!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue", "!Cidr": "Fn::Cidr",
	"!Transform": "Fn::Transform", "!Length": "Fn::Length", "!ToJsonString": "Fn::ToJsonString",
}

// maxNodes bounds the tree built from one template, aliases expanded, so a
// billion-laughs document cannot exhaust memory.
const maxNodes = 200_000

type builder struct {
	file  string
	errs  *Errors
	count int
}

// parse reads a YAML or JSON template into a node tree.
func parse(file string, data []byte, errs *Errors) *node {
	b := &builder{file: file, errs: errs}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return b.parseJSON(data)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		b.yamlError(err)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		b.add(pos{1, 1}, "", "the template is empty")
		return nil
	}
	return b.fromYAML(doc.Content[0], 0)
}

func (b *builder) add(p pos, path, format string, args ...any) {
	*b.errs = append(*b.errs, &Error{File: b.file, Line: p.line, Column: p.col, Path: path, Message: fmt.Sprintf(format, args...)})
}

// yamlError turns yaml.v3's "yaml: line N: msg" into a positioned error.
func (b *builder) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	col := 0
	if line > 0 {
		col = 1
	}
	b.add(pos{line, col}, "", "invalid YAML: %s", msg)
}

func (b *builder) fromYAML(y *yaml.Node, depth int) *node {
	b.count++
	p := pos{y.Line, y.Column}
	if b.count > maxNodes || depth > 200 {
		if b.count == maxNodes+1 || depth == 201 {
			b.add(p, "", "the template is too large or too deeply nested")
		}
		return &node{kind: kNull, pos: p}
	}
	var n *node
	switch y.Kind {
	case yaml.AliasNode:
		if y.Alias == nil {
			return &node{kind: kNull, pos: p}
		}
		return b.fromYAML(y.Alias, depth+1)
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: kNull, pos: p}
		}
		return b.fromYAML(y.Content[0], depth+1)
	case yaml.ScalarNode:
		tag := y.ShortTag()
		if tag == "!!null" {
			n = &node{kind: kNull, pos: p}
		} else {
			n = &node{kind: kScalar, str: y.Value, tag: tag, pos: p}
			if _, ok := shortTags[tag]; ok {
				n.tag = "!!str"
			}
		}
	case yaml.SequenceNode:
		n = &node{kind: kSeq, pos: p}
		for _, c := range y.Content {
			n.items = append(n.items, b.fromYAML(c, depth+1))
		}
	case yaml.MappingNode:
		n = &node{kind: kMap, pos: p}
		var seen keySet
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				b.add(pos{k.Line, k.Column}, "", "a map key must be a plain string")
				continue
			}
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				b.add(pos{k.Line, k.Column}, "", "YAML merge keys (<<) are not supported in templates")
				continue
			}
			if seen.has(n.keys, k.Value) {
				b.add(pos{k.Line, k.Column}, "", "duplicate key %q", k.Value)
				continue
			}
			n.keys = append(n.keys, k.Value)
			n.keyPos = append(n.keyPos, pos{k.Line, k.Column})
			n.vals = append(n.vals, b.fromYAML(v, depth+1))
		}
	default:
		return &node{kind: kNull, pos: p}
	}
	if long, ok := shortTags[y.Tag]; ok {
		if y.Kind == yaml.ScalarNode && y.Value == "" && long != "Ref" {
			// "!GetAZs ''" and the like: an empty argument is still a string.
			n = &node{kind: kScalar, str: "", tag: "!!str", pos: p}
		}
		return &node{kind: kMap, keys: []string{long}, keyPos: []pos{p}, vals: []*node{n}, pos: p}
	}
	return n
}

// keySet finds duplicate keys of one map: a scan while the map is small,
// a hash set once it is not, so a map with many keys stays linear.
type keySet struct{ m map[string]struct{} }

// has reports whether k is among keys (the keys added so far) and
// remembers it as added when it is not.
func (s *keySet) has(keys []string, k string) bool {
	if s.m == nil && len(keys) < 16 {
		for _, x := range keys {
			if x == k {
				return true
			}
		}
		return false
	}
	if s.m == nil {
		s.m = make(map[string]struct{}, 2*len(keys))
		for _, x := range keys {
			s.m[x] = struct{}{}
		}
	}
	if _, ok := s.m[k]; ok {
		return true
	}
	s.m[k] = struct{}{}
	return false
}

// parseJSON builds the tree from a JSON template with encoding/json's
// tokenizer, turning byte offsets into line and column.
func (b *builder) parseJSON(data []byte) *node {
	lines := lineStarts(data)
	at := func(off int64) pos {
		i := 0
		lo, hi := 0, len(lines)
		for lo < hi {
			m := (lo + hi) / 2
			if int64(lines[m]) <= off {
				i, lo = m, m+1
			} else {
				hi = m
			}
		}
		return pos{i + 1, int(off-int64(lines[i])) + 1}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// start is the offset of the next token: InputOffset is just past the
	// previous one, so skip whitespace, commas and colons.
	start := func() int64 {
		off := dec.InputOffset()
		for off < int64(len(data)) {
			switch data[off] {
			case ' ', '\t', '\r', '\n', ',', ':':
				off++
				continue
			}
			break
		}
		return off
	}
	var read func(depth int) (*node, error)
	read = func(depth int) (*node, error) {
		p := at(start())
		b.count++
		if b.count > maxNodes || depth > 200 {
			return nil, fmt.Errorf("the template is too large or too deeply nested")
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				n := &node{kind: kMap, pos: p}
				var seen keySet
				for dec.More() {
					kp := at(start())
					kt, err := dec.Token()
					if err != nil {
						return nil, err
					}
					k, _ := kt.(string)
					v, err := read(depth + 1)
					if err != nil {
						return nil, err
					}
					if seen.has(n.keys, k) {
						b.add(kp, "", "duplicate key %q", k)
						continue
					}
					n.keys = append(n.keys, k)
					n.keyPos = append(n.keyPos, kp)
					n.vals = append(n.vals, v)
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				return n, nil
			case '[':
				n := &node{kind: kSeq, pos: p}
				for dec.More() {
					v, err := read(depth + 1)
					if err != nil {
						return nil, err
					}
					n.items = append(n.items, v)
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				return n, nil
			}
			return nil, fmt.Errorf("unexpected %v", t)
		case string:
			return &node{kind: kScalar, str: t, tag: "!!str", pos: p}, nil
		case json.Number:
			tag := "!!int"
			if strings.ContainsAny(string(t), ".eE") {
				tag = "!!float"
			}
			return &node{kind: kScalar, str: string(t), tag: tag, pos: p}, nil
		case bool:
			return &node{kind: kScalar, str: strconv.FormatBool(t), tag: "!!bool", pos: p}, nil
		case nil:
			return &node{kind: kNull, pos: p}, nil
		}
		return nil, fmt.Errorf("unexpected token")
	}
	n, err := read(0)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = fmt.Errorf("unexpected data after the top-level object")
		}
	}
	if err != nil {
		p := at(dec.InputOffset())
		var se *json.SyntaxError
		if ok := asSyntax(err, &se); ok {
			p = at(se.Offset)
		}
		msg := err.Error()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			msg = "unexpected end of JSON"
		}
		b.add(p, "", "invalid JSON: %s", msg)
		return nil
	}
	return n
}

func asSyntax(err error, se **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	if ok {
		*se = s
	}
	return ok
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}
