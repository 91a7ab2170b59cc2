package stack

import (
	"strconv"
	"strings"
)

// evaluator resolves intrinsic functions in one value.
type evaluator struct {
	l *loader
	// conditionCtx is set in the Conditions section, where resources
	// cannot be referred to.
	conditionCtx bool
}

func bad(p pos) *node { return &node{kind: kNull, pos: p, bad: true} }

// Intrinsics can grow text exponentially (each resource's name two copies
// of the previous one's), so the text they make is bounded: per value, and
// for the whole template.
const (
	maxValueBytes    = 1 << 20
	maxExpandedBytes = 16 << 20
)

// spend charges n bytes of produced text (or its equivalent in list items)
// to the template's budget; false means the value must not be made.
func (e *evaluator) spend(n int, p pos, path string) bool {
	if n > maxValueBytes {
		e.l.errf(p, path, "the value would be %d bytes long; values are limited to %d bytes", n, maxValueBytes)
		return false
	}
	e.l.expanded += n
	if e.l.expanded <= maxExpandedBytes {
		return true
	}
	if !e.l.overBudget {
		e.l.overBudget = true
		e.l.errf(p, path, "intrinsic functions expand the template to more than %d MiB of text", maxExpandedBytes>>20)
	}
	return false
}

// eval returns the value of n with every intrinsic resolved, nil when the
// value is AWS::NoValue (the property is removed), or a bad node after an
// error was recorded.
func (e *evaluator) eval(n *node, path string) *node {
	if n == nil {
		return nil
	}
	if fn, arg, ok := n.fnName(); ok {
		return e.call(fn, arg, n.pos, path)
	}
	switch n.kind {
	case kMap:
		out := &node{kind: kMap, pos: n.pos}
		for i, k := range n.keys {
			v := e.eval(n.vals[i], path+"."+k)
			if v == nil {
				continue
			}
			out.keys = append(out.keys, k)
			out.keyPos = append(out.keyPos, n.keyPos[i])
			out.vals = append(out.vals, v)
		}
		return out
	case kSeq:
		out := &node{kind: kSeq, pos: n.pos}
		for i, it := range n.items {
			v := e.eval(it, path+"["+strconv.Itoa(i)+"]")
			if v == nil {
				continue
			}
			out.items = append(out.items, v)
		}
		return out
	}
	return n
}

func (e *evaluator) errf(p pos, path, format string, args ...any) *node {
	e.l.errf(p, path, format, args...)
	return bad(p)
}

// str evaluates n and requires a string (numbers and booleans count, as
// CloudFormation converts them).
func (e *evaluator) str(n *node, path, what string) (string, bool) {
	v := e.eval(n, path)
	if v == nil {
		e.l.errf(n.pos, path, "%s cannot be AWS::NoValue", what)
		return "", false
	}
	if v.bad {
		return "", false
	}
	if v.kind != kScalar {
		e.l.errf(v.pos, path, "%s must be a string, got %s", what, describe(v))
		return "", false
	}
	return v.str, true
}

func (e *evaluator) call(fn string, arg *node, p pos, path string) *node {
	switch fn {
	case "Ref":
		if arg.kind != kScalar {
			return e.errf(p, path, "Ref takes a parameter or resource name, got %s", describe(arg))
		}
		return e.ref(arg.str, p, path)
	case "Fn::GetAtt":
		var name, attr string
		switch {
		case arg.kind == kScalar:
			var ok bool
			name, attr, ok = strings.Cut(arg.str, ".")
			if !ok {
				return e.errf(p, path, "Fn::GetAtt takes \"Resource.Attribute\", got %q", arg.str)
			}
		case arg.kind == kSeq && len(arg.items) == 2 && arg.items[0].kind == kScalar:
			name = arg.items[0].str
			a, ok := e.str(arg.items[1], path, "the Fn::GetAtt attribute")
			if !ok {
				return bad(p)
			}
			attr = a
		default:
			return e.errf(p, path, "Fn::GetAtt takes \"Resource.Attribute\" or [Resource, Attribute]")
		}
		return e.getAtt(name, attr, p, path)
	case "Fn::Sub":
		return e.sub(arg, p, path)
	case "Fn::Join":
		if arg.kind != kSeq || len(arg.items) != 2 {
			return e.errf(p, path, "Fn::Join takes [delimiter, [values...]]")
		}
		delim, ok := e.str(arg.items[0], path, "the Fn::Join delimiter")
		if !ok {
			return bad(p)
		}
		list := e.eval(arg.items[1], path)
		if list == nil || list.bad {
			return bad(p)
		}
		if list.kind != kSeq {
			return e.errf(p, path, "Fn::Join needs a list of values, got %s", describe(list))
		}
		parts := make([]string, 0, len(list.items))
		size := 0
		for _, it := range list.items {
			if it.bad {
				return bad(p)
			}
			if it.kind != kScalar {
				return e.errf(it.pos, path, "Fn::Join values must be strings, got %s", describe(it))
			}
			parts = append(parts, it.str)
			size += len(it.str) + len(delim)
		}
		if !e.spend(size, p, path) {
			return bad(p)
		}
		return scalar(strings.Join(parts, delim), p)
	case "Fn::Select":
		if arg.kind != kSeq || len(arg.items) != 2 {
			return e.errf(p, path, "Fn::Select takes [index, [values...]]")
		}
		is, ok := e.str(arg.items[0], path, "the Fn::Select index")
		if !ok {
			return bad(p)
		}
		idx, err := strconv.Atoi(is)
		if err != nil || idx < 0 {
			return e.errf(arg.items[0].pos, path, "the Fn::Select index must be a non-negative integer, got %q", is)
		}
		list := e.eval(arg.items[1], path)
		if list == nil || list.bad {
			return bad(p)
		}
		if list.kind != kSeq {
			return e.errf(p, path, "Fn::Select needs a list, got %s", describe(list))
		}
		if idx >= len(list.items) {
			return e.errf(p, path, "Fn::Select index %d is out of range: the list has %d values", idx, len(list.items))
		}
		return list.items[idx]
	case "Fn::Split":
		if arg.kind != kSeq || len(arg.items) != 2 {
			return e.errf(p, path, "Fn::Split takes [delimiter, string]")
		}
		delim, ok := e.str(arg.items[0], path, "the Fn::Split delimiter")
		if !ok {
			return bad(p)
		}
		if delim == "" {
			return e.errf(p, path, "the Fn::Split delimiter cannot be empty")
		}
		s, ok := e.str(arg.items[1], path, "the Fn::Split source")
		if !ok {
			return bad(p)
		}
		// Each item costs a node besides its text.
		if !e.spend(len(s)+64*(strings.Count(s, delim)+1), p, path) {
			return bad(p)
		}
		out := &node{kind: kSeq, pos: p}
		for _, part := range strings.Split(s, delim) {
			out.items = append(out.items, scalar(part, p))
		}
		return out
	case "Fn::If":
		if arg.kind != kSeq || len(arg.items) != 3 || arg.items[0].kind != kScalar {
			return e.errf(p, path, "Fn::If takes [ConditionName, value if true, value if false]")
		}
		v, ok := e.l.evalCondition(arg.items[0].str, arg.items[0].pos, path)
		if !ok {
			return bad(p)
		}
		if v {
			return e.eval(arg.items[1], path)
		}
		return e.eval(arg.items[2], path)
	case "Fn::Equals":
		if arg.kind != kSeq || len(arg.items) != 2 {
			return e.errf(p, path, "Fn::Equals takes [value, value]")
		}
		a, b := e.eval(arg.items[0], path), e.eval(arg.items[1], path)
		if a == nil || b == nil {
			return e.errf(p, path, "Fn::Equals cannot compare AWS::NoValue")
		}
		if a.bad || b.bad {
			return bad(p)
		}
		return boolNode(equalNodes(a, b), p)
	case "Fn::Not", "Fn::And", "Fn::Or":
		if arg.kind != kSeq || len(arg.items) == 0 {
			return e.errf(p, path, "%s takes a list of conditions", fn)
		}
		if fn == "Fn::Not" && len(arg.items) != 1 {
			return e.errf(p, path, "Fn::Not takes exactly one condition")
		}
		if fn != "Fn::Not" && (len(arg.items) < 2 || len(arg.items) > 10) {
			return e.errf(p, path, "%s takes 2 to 10 conditions", fn)
		}
		vals := make([]bool, 0, len(arg.items))
		for _, it := range arg.items {
			v := e.eval(it, path)
			if v == nil || v.bad {
				return bad(p)
			}
			b, ok := asBool(v)
			if !ok {
				return e.errf(it.pos, path, "%s needs conditions (true or false), got %s", fn, describe(v))
			}
			vals = append(vals, b)
		}
		switch fn {
		case "Fn::Not":
			return boolNode(!vals[0], p)
		case "Fn::And":
			r := true
			for _, v := range vals {
				r = r && v
			}
			return boolNode(r, p)
		default:
			r := false
			for _, v := range vals {
				r = r || v
			}
			return boolNode(r, p)
		}
	case "Condition":
		if arg.kind != kScalar {
			return e.errf(p, path, "Condition takes a condition name")
		}
		v, ok := e.l.evalCondition(arg.str, p, path)
		if !ok {
			return bad(p)
		}
		return boolNode(v, p)
	case "Fn::FindInMap":
		if arg.kind != kSeq || len(arg.items) < 3 || len(arg.items) > 4 {
			return e.errf(p, path, "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]")
		}
		var keys [3]string
		for i := range 3 {
			s, ok := e.str(arg.items[i], path, "a Fn::FindInMap key")
			if !ok {
				return bad(p)
			}
			keys[i] = s
		}
		if e.l.mappings == nil {
			return e.errf(p, path, "Fn::FindInMap: the template has no Mappings")
		}
		m := e.l.mappings.get(keys[0])
		if m == nil {
			return e.errf(p, path, "Fn::FindInMap: no mapping named %q", keys[0])
		}
		top := m.get(keys[1])
		if top == nil {
			return e.errf(p, path, "Fn::FindInMap: mapping %s has no key %q", keys[0], keys[1])
		}
		v := top.get(keys[2])
		if v == nil {
			return e.errf(p, path, "Fn::FindInMap: mapping %s.%s has no key %q", keys[0], keys[1], keys[2])
		}
		return v
	case "Fn::Base64":
		s, ok := e.str(arg, path, "the Fn::Base64 value")
		if !ok {
			return bad(p)
		}
		if !e.spend(base64Len(len(s)), p, path) {
			return bad(p)
		}
		return scalar(b64(s), p)
	case "Fn::GetAZs":
		r := e.l.opts.Region
		out := &node{kind: kSeq, pos: p}
		for _, z := range []string{"a", "b", "c"} {
			out.items = append(out.items, scalar(r+z, p))
		}
		return out
	case "Fn::ImportValue":
		return e.errf(p, path, "Fn::ImportValue is not supported: Sluice runs one stack, so there are no exports to import; pass the value as a Parameter instead")
	}
	return e.errf(p, path, "%s is not supported (supported: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::FindInMap, Fn::Base64, Fn::GetAZs)", fn)
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }

func boolNode(b bool, p pos) *node {
	return &node{kind: kScalar, str: strconv.FormatBool(b), tag: "!!bool", pos: p}
}

func equalNodes(a, b *node) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kScalar:
		return a.str == b.str
	case kSeq:
		if len(a.items) != len(b.items) {
			return false
		}
		for i := range a.items {
			if !equalNodes(a.items[i], b.items[i]) {
				return false
			}
		}
		return true
	case kMap:
		if len(a.keys) != len(b.keys) {
			return false
		}
		for i, k := range a.keys {
			bv := b.get(k)
			if bv == nil || !equalNodes(a.vals[i], bv) {
				return false
			}
		}
		return true
	}
	return true
}

func (e *evaluator) pseudo(name string, p pos) (*node, bool) {
	o := e.l.opts
	switch name {
	case "AWS::Region":
		return scalar(o.Region, p), true
	case "AWS::AccountId":
		return scalar(AccountID, p), true
	case "AWS::StackName":
		return scalar(o.StackName, p), true
	case "AWS::StackId":
		return scalar("arn:aws:cloudformation:"+o.Region+":"+AccountID+":stack/"+o.StackName+"/"+apiID(o.StackName, "stack"), p), true
	case "AWS::Partition":
		return scalar("aws", p), true
	case "AWS::URLSuffix":
		return scalar("amazonaws.com", p), true
	case "AWS::NotificationARNs":
		return &node{kind: kSeq, pos: p}, true
	}
	return nil, false
}

func (e *evaluator) ref(name string, p pos, path string) *node {
	if name == "AWS::NoValue" {
		return nil
	}
	if v, ok := e.pseudo(name, p); ok {
		return v
	}
	if strings.HasPrefix(name, "AWS::") {
		return e.errf(p, path, "unknown pseudo parameter %s", name)
	}
	if v, ok := e.l.params[name]; ok {
		return withPos(v, p)
	}
	if _, ok := e.l.conds[name]; ok && e.l.res[name] == nil {
		return e.errf(p, path, "%q is a condition: use it with Fn::If or Condition, not Ref", name)
	}
	base, extra, dotted := strings.Cut(name, ".")
	r, ok := e.l.res[base]
	if !ok {
		if e.l.paramDeclared(name) {
			return bad(p) // the parameter's own error was reported
		}
		return e.errf(p, path, "Ref to %q: no parameter or resource has that name", name)
	}
	if !e.resourceUsable(r, p, path) {
		return bad(p)
	}
	if dotted {
		v := r.extraRefs[extra]
		if v == nil {
			return e.errf(p, path, "Ref to %q: %s has no %s (SAM's %s.Version and %s.Alias need AutoPublishAlias)", name, base, extra, base, base)
		}
		return withPos(v, p)
	}
	if r.ref == nil {
		return bad(p)
	}
	return withPos(r.ref, p)
}

func (l *loader) paramDeclared(name string) bool { return l.declared[name] }

func (e *evaluator) resourceUsable(r *resource, p pos, path string) bool {
	if e.conditionCtx {
		e.l.errf(p, path, "conditions can only use parameters and other conditions, not the resource %s", r.id)
		return false
	}
	if !r.enabled {
		e.l.errf(p, path, "refers to %s, which is not created (its Condition is false)", r.id)
		return false
	}
	return r.done
}

func (e *evaluator) getAtt(name, attr string, p pos, path string) *node {
	r, ok := e.l.res[name]
	if !ok {
		return e.errf(p, path, "Fn::GetAtt: no resource named %q", name)
	}
	if !e.resourceUsable(r, p, path) {
		return bad(p)
	}
	if r.unsupported {
		return scalar(name+"."+attr, p)
	}
	if r.attrs == nil {
		return bad(p) // the resource's own errors were reported
	}
	v, ok := r.attrs[attr]
	if !ok {
		names := make([]string, 0, len(r.attrs))
		for k := range r.attrs {
			names = append(names, k)
		}
		return e.errf(p, path, "Fn::GetAtt: %s (%s) has no attribute %q (it has %s)", name, r.typ, attr, strings.Join(sortedCopy(names), ", "))
	}
	return withPos(v, p)
}

func withPos(v *node, p pos) *node {
	c := *v
	c.pos = p
	return &c
}

// sub implements Fn::Sub in both forms.
func (e *evaluator) sub(arg *node, p pos, path string) *node {
	var tmpl *node
	vars := map[string]*node{}
	switch {
	case arg.kind == kScalar:
		tmpl = arg
	case arg.kind == kSeq && len(arg.items) == 2 && arg.items[0].kind == kScalar && arg.items[1].kind == kMap:
		tmpl = arg.items[0]
		m := arg.items[1]
		for i, k := range m.keys {
			v := e.eval(m.vals[i], path+"."+k)
			if v == nil {
				return e.errf(m.keyPos[i], path, "Fn::Sub variable %s cannot be AWS::NoValue", k)
			}
			if v.bad {
				return bad(p)
			}
			if v.kind != kScalar {
				return e.errf(m.keyPos[i], path, "Fn::Sub variable %s must be a string, got %s", k, describe(v))
			}
			vars[k] = v
		}
	default:
		return e.errf(p, path, "Fn::Sub takes a string or [string, {Name: value}]")
	}
	s := tmpl.str
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return e.errf(p, path, "Fn::Sub: unterminated ${ in %q", tmpl.str)
		}
		v := s[i+2 : i+j]
		s = s[i+j+1:]
		if lit, ok := strings.CutPrefix(v, "!"); ok {
			b.WriteString("${" + lit + "}")
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			return e.errf(p, path, "Fn::Sub: empty ${} in %q", tmpl.str)
		}
		var val *node
		if x, ok := vars[v]; ok {
			val = x
		} else if name, attr, dotted := strings.Cut(v, "."); dotted && e.l.res[name] != nil && !strings.HasPrefix(v, "AWS::") {
			val = e.getAtt(name, attr, p, path)
		} else {
			val = e.ref(v, p, path)
			if val == nil {
				return e.errf(p, path, "Fn::Sub cannot use AWS::NoValue")
			}
		}
		if val.bad {
			return bad(p)
		}
		if val.kind == kSeq {
			return e.errf(p, path, "Fn::Sub: ${%s} is a list; use Fn::Join", v)
		}
		if val.kind != kScalar {
			return e.errf(p, path, "Fn::Sub: ${%s} is not a string", v)
		}
		if b.Len()+len(val.str) > maxValueBytes {
			return e.errf(p, path, "the value would be more than %d bytes long; values are limited to %d bytes", maxValueBytes, maxValueBytes)
		}
		b.WriteString(val.str)
	}
	if !e.spend(b.Len(), p, path) {
		return bad(p)
	}
	return scalar(b.String(), p)
}
