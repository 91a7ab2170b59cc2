package cloudfront

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Namespace is the XML namespace of the 2020-05-31 API.
const Namespace = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

// Limits on request documents. A large distribution (25 origins, 25
// behaviours, 100 aliases) is a few tens of kilobytes.
const (
	maxBodyBytes = 1 << 20
	maxDepth     = 32
	maxNodes     = 50_000
)

// node is one element of a request document. Documents are kept as trees so
// that GetDistributionConfig returns every element a client sent, including
// the many that Sluice records but does not act on, in the order it sent
// them.
type node struct {
	Name string  `json:"n"`
	Text string  `json:"t,omitempty"`
	Kids []*node `json:"k,omitempty"`
}

// errMalformed marks a document that is not well-formed XML or breaks the
// shape rules of parseTree; the API answers MalformedInput.
var errMalformed = errors.New("malformed XML")

// parseTree reads one XML document. Namespaces and attributes are dropped
// (the API has none but the root's xmlns), whitespace between elements is
// dropped, and text mixed with child elements is refused.
func parseTree(r io.Reader) (*node, error) {
	dec := xml.NewDecoder(io.LimitReader(r, maxBodyBytes+1))
	var stack []*node
	var root *node
	count := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, fmt.Errorf("%w: more than one root element", errMalformed)
			}
			count++
			if count > maxNodes || len(stack) >= maxDepth {
				return nil, fmt.Errorf("%w: document too large or too deep", errMalformed)
			}
			n := &node{Name: t.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				if strings.TrimSpace(p.Text) != "" {
					return nil, fmt.Errorf("%w: element %s mixes text and elements", errMalformed, p.Name)
				}
				p.Text = ""
				p.Kids = append(p.Kids, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, fmt.Errorf("%w: text outside the root element", errMalformed)
				}
				continue
			}
			p := stack[len(stack)-1]
			if len(p.Kids) > 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, fmt.Errorf("%w: element %s mixes text and elements", errMalformed, p.Name)
				}
				continue
			}
			p.Text += string(t)
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", errMalformed)
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("%w: unexpected end of document", errMalformed)
	}
	root.normalize()
	return root, nil
}

// normalize drops whitespace-only text of elements that have children, so
// that a document parses to the same tree however it was indented.
func (n *node) normalize() {
	if len(n.Kids) > 0 {
		n.Text = ""
	}
	for _, k := range n.Kids {
		k.normalize()
	}
}

// child returns the first child named name, or nil.
func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// text returns the text of the child named name ("" when absent).
func (n *node) text(name string) string {
	if c := n.child(name); c != nil {
		return c.Text
	}
	return ""
}

// has reports whether n has a child named name.
func (n *node) has(name string) bool { return n.child(name) != nil }

// items returns the children of the Items child (the API's list wrapper).
func (n *node) items() []*node {
	if it := n.child("Items"); it != nil {
		return it.Kids
	}
	return nil
}

// clone returns a deep copy of n.
func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := &node{Name: n.Name, Text: n.Text}
	if len(n.Kids) > 0 {
		c.Kids = make([]*node, len(n.Kids))
		for i, k := range n.Kids {
			c.Kids[i] = k.clone()
		}
	}
	return c
}

// equal reports whether two trees are the same document.
func (n *node) equal(o *node) bool {
	if n == nil || o == nil {
		return n == o
	}
	if n.Name != o.Name || n.Text != o.Text || len(n.Kids) != len(o.Kids) {
		return false
	}
	for i := range n.Kids {
		if !n.Kids[i].equal(o.Kids[i]) {
			return false
		}
	}
	return true
}

// el builds an element with text.
func el(name, text string) *node { return &node{Name: name, Text: text} }

// elk builds an element with children; nil children are skipped.
func elk(name string, kids ...*node) *node {
	n := &node{Name: name}
	for _, k := range kids {
		if k != nil {
			n.Kids = append(n.Kids, k)
		}
	}
	return n
}

func elBool(name string, v bool) *node { return el(name, strconv.FormatBool(v)) }
func elInt(name string, v int64) *node { return el(name, strconv.FormatInt(v, 10)) }

// list builds the API's Quantity + Items wrapper; Items is omitted when
// empty, as AWS does.
func list(name, itemName string, texts []string) *node {
	n := elk(name, elInt("Quantity", int64(len(texts))))
	if len(texts) > 0 {
		items := elk("Items")
		for _, t := range texts {
			items.Kids = append(items.Kids, el(itemName, t))
		}
		n.Kids = append(n.Kids, items)
	}
	return n
}

// writeTo writes n as XML, with the API namespace on the root element when
// root is true.
func (n *node) writeTo(b *bytes.Buffer, root bool) {
	b.WriteByte('<')
	b.WriteString(n.Name)
	if root {
		b.WriteString(` xmlns="`)
		b.WriteString(Namespace)
		b.WriteByte('"')
	}
	b.WriteByte('>')
	if len(n.Kids) > 0 {
		for _, k := range n.Kids {
			k.writeTo(b, false)
		}
	} else {
		escapeText(b, n.Text)
	}
	b.WriteString("</")
	b.WriteString(n.Name)
	b.WriteByte('>')
}

// document renders n as a complete XML document.
func (n *node) document() []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header[:len(xml.Header)-1])
	n.writeTo(&b, true)
	return b.Bytes()
}

// escapeText escapes s for element content. Characters XML 1.0 cannot carry
// become U+FFFD, so a stored document always renders to valid XML.
func escapeText(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == utf8.RuneError && size == 1, !isXMLChar(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
