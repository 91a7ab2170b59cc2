package policy

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type opKind uint8

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opArnLike
	opNull
)

type opSpec struct {
	kind    opKind
	negated bool
}

// operators are IAM's condition operators by name. ArnEquals behaves as
// ArnLike in IAM: both accept wildcards per ARN component.
var operators = map[string]opSpec{
	"StringEquals":              {opStringEquals, false},
	"StringNotEquals":           {opStringEquals, true},
	"StringEqualsIgnoreCase":    {opStringEqualsIgnoreCase, false},
	"StringNotEqualsIgnoreCase": {opStringEqualsIgnoreCase, true},
	"StringLike":                {opStringLike, false},
	"StringNotLike":             {opStringLike, true},
	"NumericEquals":             {opNumericEquals, false},
	"NumericNotEquals":          {opNumericEquals, true},
	"NumericLessThan":           {opNumericLessThan, false},
	"NumericLessThanEquals":     {opNumericLessThanEquals, false},
	"NumericGreaterThan":        {opNumericGreaterThan, false},
	"NumericGreaterThanEquals":  {opNumericGreaterThanEquals, false},
	"DateEquals":                {opDateEquals, false},
	"DateNotEquals":             {opDateEquals, true},
	"DateLessThan":              {opDateLessThan, false},
	"DateLessThanEquals":        {opDateLessThanEquals, false},
	"DateGreaterThan":           {opDateGreaterThan, false},
	"DateGreaterThanEquals":     {opDateGreaterThanEquals, false},
	"Bool":                      {opBool, false},
	"BinaryEquals":              {opBinaryEquals, false},
	"IpAddress":                 {opIPAddress, false},
	"NotIpAddress":              {opIPAddress, true},
	"ArnEquals":                 {opArnLike, false},
	"ArnLike":                   {opArnLike, false},
	"ArnNotEquals":              {opArnLike, true},
	"ArnNotLike":                {opArnLike, true},
	"Null":                      {opNull, false},
}

type setQualifier uint8

const (
	qualNone setQualifier = iota
	qualForAllValues
	qualForAnyValue
)

// condition is one (operator, key, values) triple; a statement's
// conditions are ANDed, the values of one condition ORed.
type condition struct {
	op       opSpec
	qual     setQualifier
	ifExists bool
	key      string
	values   []string
	nums     []float64
	times    []time.Time
	prefixes []netip.Prefix
}

func parseConditions(raw json.RawMessage) ([]condition, error) {
	if firstByte(raw) != '{' {
		return nil, malformed(msgInvalidJSON)
	}
	var ops map[string]json.RawMessage
	if json.Unmarshal(raw, &ops) != nil {
		return nil, malformed(msgInvalidJSON)
	}
	var out []condition
	for _, name := range sortedKeys(ops) {
		base := name
		var c condition
		if rest, ok := strings.CutPrefix(base, "ForAllValues:"); ok {
			base, c.qual = rest, qualForAllValues
		} else if rest, ok := strings.CutPrefix(base, "ForAnyValue:"); ok {
			base, c.qual = rest, qualForAnyValue
		}
		if rest, ok := strings.CutSuffix(base, "IfExists"); ok && rest != "Null" {
			base, c.ifExists = rest, true
		}
		spec, ok := operators[base]
		if !ok {
			return nil, malformedf("Invalid Condition type : %s", name)
		}
		c.op = spec
		if firstByte(ops[name]) != '{' {
			return nil, malformed(msgInvalidJSON)
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(ops[name], &keys) != nil || len(keys) == 0 {
			return nil, malformed(msgInvalidJSON)
		}
		for _, key := range sortedKeys(keys) {
			if !validConditionKey(key) {
				return nil, malformed(msgInvalidCondKey)
			}
			cc := c
			cc.key = key
			vals, err := conditionValues(keys[key])
			if err != nil {
				return nil, err
			}
			if err := cc.setValues(vals); err != nil {
				return nil, err
			}
			out = append(out, cc)
		}
	}
	return out, nil
}

// validConditionKey accepts the global aws: keys and the s3: keys; S3 has
// no other namespaces a bucket policy can test.
func validConditionKey(key string) bool {
	ns, name, ok := strings.Cut(key, ":")
	if !ok || name == "" {
		return false
	}
	if !strings.EqualFold(ns, "aws") && !strings.EqualFold(ns, "s3") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// conditionValues decodes a scalar or a list of scalars; IAM accepts
// numbers and booleans where it means their text.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if firstByte(raw) == '[' {
		if json.Unmarshal(raw, &items) != nil || len(items) == 0 {
			return nil, malformed(msgInvalidJSON)
		}
	} else {
		items = []json.RawMessage{raw}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var v any
		d := json.NewDecoder(strings.NewReader(string(it)))
		d.UseNumber()
		if d.Decode(&v) != nil {
			return nil, malformed(msgInvalidJSON)
		}
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case json.Number:
			out = append(out, x.String())
		case bool:
			out = append(out, strconv.FormatBool(x))
		default:
			return nil, malformed(msgInvalidJSON)
		}
	}
	return out, nil
}

func (c *condition) setValues(vals []string) error {
	c.values = vals
	switch c.op.kind {
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		for _, v := range vals {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return malformedf("Invalid numeric value %s in Conditions", v)
			}
			c.nums = append(c.nums, n)
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		for _, v := range vals {
			t, ok := parseDate(v)
			if !ok {
				return malformedf("Invalid date value %s in Conditions", v)
			}
			c.times = append(c.times, t)
		}
	case opBool, opNull:
		for _, v := range vals {
			if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
				return malformedf("Invalid boolean value %s in Conditions", v)
			}
		}
	case opIPAddress:
		for _, v := range vals {
			p, ok := parsePrefix(v)
			if !ok {
				return malformed(msgInvalidIP)
			}
			c.prefixes = append(c.prefixes, p)
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// parseDate accepts the ISO 8601 forms IAM documents and epoch seconds.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	return time.Time{}, false
}

// lookup finds key in ctx, exactly first and then ignoring case, because
// IAM condition keys are case-insensitive.
func lookup(ctx map[string]string, key string) (string, bool) {
	if v, ok := ctx[key]; ok {
		return v, true
	}
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func (c *condition) eval(ctx map[string]string) bool {
	v, present := lookup(ctx, c.key)
	if c.op.kind == opNull {
		for _, want := range c.values {
			if strings.EqualFold(want, "true") != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.qual == qualForAllValues:
			return true
		case c.qual == qualForAnyValue:
			return false
		case c.ifExists:
			return true
		default:
			// Negated operators match a request that lacks the key: IAM
			// documents StringNotEquals & co. as "absent or different".
			return c.op.negated
		}
	}
	return c.matchValue(v) != c.op.negated
}

// matchValue reports whether v matches any of the condition's values under
// the positive form of the operator.
func (c *condition) matchValue(v string) bool {
	switch c.op.kind {
	case opStringEquals, opBinaryEquals:
		for _, w := range c.values {
			if v == w {
				return true
			}
		}
	case opStringEqualsIgnoreCase:
		for _, w := range c.values {
			if strings.EqualFold(v, w) {
				return true
			}
		}
	case opStringLike:
		for _, w := range c.values {
			if wildcardMatch(w, v, false) {
				return true
			}
		}
	case opBool:
		for _, w := range c.values {
			if strings.EqualFold(v, w) {
				return true
			}
		}
	case opArnLike:
		for _, w := range c.values {
			if arnMatch(w, v) {
				return true
			}
		}
	case opIPAddress:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range c.prefixes {
			if p.Contains(a) {
				return true
			}
		}
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		for _, w := range c.nums {
			if compare(c.op.kind-opNumericEquals, cmpFloat(n, w)) {
				return true
			}
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, w := range c.times {
			if compare(c.op.kind-opDateEquals, t.Compare(w)) {
				return true
			}
		}
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies the relation at offset rel (equals, less, less-equal,
// greater, greater-equal — the order of the op constants) to a three-way
// comparison result.
func compare(rel opKind, c int) bool {
	switch rel {
	case 0:
		return c == 0
	case 1:
		return c < 0
	case 2:
		return c <= 0
	case 3:
		return c > 0
	case 4:
		return c >= 0
	}
	return false
}

// arnMatch compares an ARN pattern with an ARN component by component, so
// a wildcard never crosses a ':' between the first five components.
func arnMatch(pattern, arn string) bool {
	if pattern == "*" {
		return true
	}
	for range 5 {
		pi := strings.IndexByte(pattern, ':')
		ai := strings.IndexByte(arn, ':')
		if pi < 0 || ai < 0 {
			return false
		}
		if !wildcardMatch(pattern[:pi], arn[:ai], false) {
			return false
		}
		pattern, arn = pattern[pi+1:], arn[ai+1:]
	}
	return wildcardMatch(pattern, arn, false)
}
