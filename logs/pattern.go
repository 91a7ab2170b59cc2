package logs

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// MaxPatternLength is the longest filter pattern, as on AWS.
const MaxPatternLength = 1024

// Pattern is a compiled CloudWatch Logs filter pattern. Sluice supports:
//
//   - "" (or `""`): every event.
//   - Text terms, case-sensitive substrings: `ERROR timeout` (all must
//     appear), `"quoted phrase"` (with \" and \\ escapes), `?ERROR ?WARN`
//     (at least one of the ?-terms must appear), `-DEBUG` (must not
//     appear). Mixed, an event matches when it has every plain term, one
//     of the ?-terms (if any) and none of the -terms.
//   - Regular expressions: `%ERROR|WARN\d+%` (Go RE2 syntax).
//   - JSON patterns on messages that are JSON objects:
//     `{ $.level = "error" }`, `{ $.a.b[0] != "x*" }` (* is a wildcard in
//     strings), numeric `=, !=, <, <=, >, >=` (`{ $.latency > 100 }`),
//     `IS TRUE`, `IS FALSE`, `IS NULL`, `NOT EXISTS`, `EXISTS`, combined
//     with `&&`, `||` and parentheses. A comparison on a missing field
//     never matches.
//
// Space-delimited patterns (`[ip, user, ...]`) are refused with
// InvalidParameterException.
type Pattern struct {
	src   string
	match func(string) bool
}

// CompilePattern parses a filter pattern.
func CompilePattern(src string) (*Pattern, error) {
	s := strings.TrimSpace(src)
	p := &Pattern{src: src}
	var err error
	switch {
	case s == "" || s == `""`:
		p.match = func(string) bool { return true }
	case strings.HasPrefix(s, "{"):
		p.match, err = compileJSONPattern(s)
	case strings.HasPrefix(s, "["):
		err = fmt.Errorf("space-delimited patterns are not supported by Sluice; use text, %%regex%% or JSON patterns")
	case len(s) >= 2 && s[0] == '%' && s[len(s)-1] == '%':
		var re *regexp.Regexp
		re, err = regexp.Compile(s[1 : len(s)-1])
		if err == nil {
			p.match = re.MatchString
		}
	default:
		p.match, err = compileTextPattern(s)
	}
	if err != nil {
		return nil, sluice.Errorf(sluice.ErrInvalidParameter, "Invalid filter pattern: %v", err)
	}
	return p, nil
}

// Match reports whether a message matches.
func (p *Pattern) Match(msg string) bool { return p.match(msg) }

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

func compileTextPattern(s string) (func(string) bool, error) {
	var all, any, none []string
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' {
			i++
			continue
		}
		kind := byte(0)
		if (s[i] == '?' || s[i] == '-') && i+1 < len(s) && !isSpace(s[i+1]) {
			kind = s[i]
			i++
		}
		var term string
		if s[i] == '"' {
			t, n, err := readQuoted(s[i:])
			if err != nil {
				return nil, err
			}
			term, i = t, i+n
		} else {
			j := i
			for j < len(s) && !isSpace(s[j]) {
				j++
			}
			term, i = s[i:j], j
		}
		if term == "" {
			continue
		}
		switch kind {
		case '?':
			any = append(any, term)
		case '-':
			none = append(none, term)
		default:
			all = append(all, term)
		}
	}
	return func(msg string) bool {
		for _, t := range all {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		for _, t := range none {
			if strings.Contains(msg, t) {
				return false
			}
		}
		if len(any) == 0 {
			return true
		}
		for _, t := range any {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// readQuoted reads a double-quoted string at the start of s and returns
// its value and the bytes consumed.
func readQuoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		case '"':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted string")
}

// JSON patterns.

type jsonExpr interface {
	eval(doc any) bool
}

type jsonAnd struct{ l, r jsonExpr }
type jsonOr struct{ l, r jsonExpr }

func (e jsonAnd) eval(doc any) bool { return e.l.eval(doc) && e.r.eval(doc) }
func (e jsonOr) eval(doc any) bool  { return e.l.eval(doc) || e.r.eval(doc) }

type pathStep struct {
	key   string
	index int // >= 0 for [N]
}

type jsonCond struct {
	path  []pathStep
	op    string // = != < <= > >= IS NOTEXISTS EXISTS
	str   string
	num   float64
	isNum bool
	lit   string // TRUE FALSE NULL for IS
}

func (c jsonCond) eval(doc any) bool {
	v, ok := lookup(doc, c.path)
	switch c.op {
	case "NOTEXISTS":
		return !ok
	case "EXISTS":
		return ok
	}
	if !ok {
		return false
	}
	switch c.op {
	case "IS":
		switch c.lit {
		case "TRUE":
			return v == true
		case "FALSE":
			return v == false
		default:
			return v == nil
		}
	case "=", "!=":
		eq := false
		if c.isNum {
			if n, isN := v.(json.Number); isN {
				f, err := n.Float64()
				eq = err == nil && f == c.num
			}
		} else if s, isS := v.(string); isS {
			eq = wildcardMatch(c.str, s)
		}
		return eq == (c.op == "=")
	}
	n, isN := v.(json.Number)
	if !isN {
		return false
	}
	f, err := n.Float64()
	if err != nil {
		return false
	}
	switch c.op {
	case "<":
		return f < c.num
	case "<=":
		return f <= c.num
	case ">":
		return f > c.num
	case ">=":
		return f >= c.num
	}
	return false
}

func lookup(doc any, path []pathStep) (any, bool) {
	cur := doc
	for _, st := range path {
		if st.index >= 0 {
			arr, ok := cur.([]any)
			if !ok || st.index >= len(arr) {
				return nil, false
			}
			cur = arr[st.index]
			continue
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[st.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// wildcardMatch matches s against pattern where * stands for any run.
func wildcardMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

func compileJSONPattern(s string) (func(string) bool, error) {
	if !strings.HasSuffix(s, "}") || len(s) < 2 {
		return nil, fmt.Errorf("a JSON pattern must end with }")
	}
	toks, err := lexJSONPattern(s[1 : len(s)-1])
	if err != nil {
		return nil, err
	}
	p := &jsonParser{toks: toks}
	expr, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i].text)
	}
	return func(msg string) bool {
		trimmed := strings.TrimSpace(msg)
		if !strings.HasPrefix(trimmed, "{") {
			return false
		}
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.UseNumber()
		var doc any
		if dec.Decode(&doc) != nil {
			return false
		}
		return expr.eval(doc)
	}, nil
}

type tokKind int

const (
	tokSelector tokKind = iota
	tokString
	tokNumber
	tokWord
	tokOp
	tokAnd
	tokOr
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
}

func lexJSONPattern(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "("})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")"})
			i++
		case strings.HasPrefix(s[i:], "&&"):
			toks = append(toks, token{tokAnd, "&&"})
			i += 2
		case strings.HasPrefix(s[i:], "||"):
			toks = append(toks, token{tokOr, "||"})
			i += 2
		case strings.HasPrefix(s[i:], "!=") || strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			toks = append(toks, token{tokOp, s[i : i+2]})
			i += 2
		case c == '=' || c == '<' || c == '>':
			toks = append(toks, token{tokOp, s[i : i+1]})
			i++
		case c == '"':
			v, n, err := readQuoted(s[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, v})
			i += n
		default:
			j := i
			for j < len(s) && !isSpace(s[j]) && !strings.ContainsRune("()=!<>&|\"", rune(s[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected character %q", c)
			}
			word := s[i:j]
			kind := tokWord
			if word[0] == '$' {
				kind = tokSelector
			} else if _, err := strconv.ParseFloat(word, 64); err == nil {
				kind = tokNumber
			}
			toks = append(toks, token{kind, word})
			i = j
		}
	}
	return toks, nil
}

type jsonParser struct {
	toks []token
	i    int
}

const maxPatternDepth = 50

func (p *jsonParser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

func (p *jsonParser) parseOr(depth int) (jsonExpr, error) {
	l, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || t.kind != tokOr {
			return l, nil
		}
		p.i++
		r, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		l = jsonOr{l, r}
	}
}

func (p *jsonParser) parseAnd(depth int) (jsonExpr, error) {
	l, err := p.parsePrimary(depth)
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || t.kind != tokAnd {
			return l, nil
		}
		p.i++
		r, err := p.parsePrimary(depth)
		if err != nil {
			return nil, err
		}
		l = jsonAnd{l, r}
	}
}

func (p *jsonParser) parsePrimary(depth int) (jsonExpr, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("expected a condition")
	}
	if t.kind == tokLParen {
		if depth >= maxPatternDepth {
			return nil, fmt.Errorf("parentheses nested too deeply")
		}
		p.i++
		e, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if t, ok := p.peek(); !ok || t.kind != tokRParen {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return e, nil
	}
	if t.kind != tokSelector {
		return nil, fmt.Errorf("expected a selector such as $.field, got %q", t.text)
	}
	p.i++
	path, err := parseSelector(t.text)
	if err != nil {
		return nil, err
	}
	c := jsonCond{path: path}
	op, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("expected an operator after %s", t.text)
	}
	p.i++
	switch {
	case op.kind == tokOp:
		c.op = op.text
		v, ok := p.peek()
		if !ok {
			return nil, fmt.Errorf("expected a value after %s %s", t.text, op.text)
		}
		p.i++
		switch v.kind {
		case tokNumber:
			c.num, _ = strconv.ParseFloat(v.text, 64)
			c.isNum = true
			c.str = v.text
		case tokString, tokWord:
			if c.op != "=" && c.op != "!=" {
				return nil, fmt.Errorf("%s needs a number, got %q", c.op, v.text)
			}
			c.str = v.text
		default:
			return nil, fmt.Errorf("expected a value after %s %s, got %q", t.text, op.text, v.text)
		}
	case op.kind == tokWord && strings.EqualFold(op.text, "IS"):
		v, ok := p.peek()
		if !ok || v.kind != tokWord {
			return nil, fmt.Errorf("expected TRUE, FALSE or NULL after IS")
		}
		p.i++
		lit := strings.ToUpper(v.text)
		if lit != "TRUE" && lit != "FALSE" && lit != "NULL" {
			return nil, fmt.Errorf("expected TRUE, FALSE or NULL after IS, got %q", v.text)
		}
		c.op, c.lit = "IS", lit
	case op.kind == tokWord && strings.EqualFold(op.text, "NOT"):
		v, ok := p.peek()
		if !ok || !strings.EqualFold(v.text, "EXISTS") {
			return nil, fmt.Errorf("expected EXISTS after NOT")
		}
		p.i++
		c.op = "NOTEXISTS"
	case op.kind == tokWord && strings.EqualFold(op.text, "EXISTS"):
		c.op = "EXISTS"
	default:
		return nil, fmt.Errorf("expected an operator after %s, got %q", t.text, op.text)
	}
	return c, nil
}

// parseSelector reads $.a.b[0].c into steps.
func parseSelector(s string) ([]pathStep, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("selector %q must start with $", s)
	}
	var steps []pathStep
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			j := 1
			for j < len(rest) && rest[j] != '.' && rest[j] != '[' {
				j++
			}
			if j == 1 {
				return nil, fmt.Errorf("empty field name in selector %q", s)
			}
			steps = append(steps, pathStep{key: rest[1:j], index: -1})
			rest = rest[j:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("missing ] in selector %q", s)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("array index %q in selector %q must be a non-negative integer", rest[1:end], s)
			}
			steps = append(steps, pathStep{index: n})
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("unexpected %q in selector %q", rest[0], s)
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("selector %q names no field", s)
	}
	return steps, nil
}
