package stack

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AccountID is the account every Sluice ARN names.
const AccountID = "000000000000"

// MaxTemplateBytes bounds a template file (CloudFormation accepts 1 MB from S3).
const MaxTemplateBytes = 1 << 20

// Options are the inputs of a load besides the template itself.
type Options struct {
	// StackName is AWS::StackName; "" = the template directory's name.
	StackName string
	// Region is AWS::Region; "" = us-east-1.
	Region string
	// Parameters override parameter defaults (--parameter-overrides).
	Parameters map[string]string
	// APIHost and EdgeHost are host:port of the local endpoints, used in
	// HTTP API endpoints and Outputs; "" = localhost:4566 / localhost:4567.
	APIHost  string
	EdgeHost string
}

func (o Options) withDefaults(file string) Options {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.StackName == "" {
		abs, err := filepath.Abs(file)
		if err == nil {
			o.StackName = sanitizeStackName(filepath.Base(filepath.Dir(abs)))
		}
		if o.StackName == "" {
			o.StackName = "sluice"
		}
	}
	if o.APIHost == "" {
		o.APIHost = "localhost:4566"
	}
	if o.EdgeHost == "" {
		o.EdgeHost = "localhost:4567"
	}
	o.APIHost, o.EdgeHost = localhostName(o.APIHost), localhostName(o.EdgeHost)
	return o
}

// localhostName turns a listen address (127.0.0.1:4566, :4566, [::1]:4566)
// into localhost:PORT: endpoints are <id>.execute-api.HOST and <id>.HOST,
// and only names under localhost resolve to this machine.
func localhostName(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if host == "" || net.ParseIP(host) != nil {
		return net.JoinHostPort("localhost", port)
	}
	return hostport
}

var stackNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

func sanitizeStackName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 128 {
		out = out[:128]
	}
	return out
}

// Load reads and validates the template at path. Every mistake found is
// returned together as Errors.
func Load(path string, opts Options) (*Stack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open template: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat template: %w", err)
	}
	if st.Size() > MaxTemplateBytes {
		return nil, Errors{{File: path, Message: fmt.Sprintf("the template is %d bytes; the limit is %d", st.Size(), MaxTemplateBytes)}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	return LoadBytes(path, data, opts)
}

// LoadBytes is Load for a template already in memory; path names it in
// errors and anchors relative CodeUri paths.
func LoadBytes(path string, data []byte, opts Options) (*Stack, error) {
	opts = opts.withDefaults(path)
	l := &loader{
		file:  path,
		dir:   filepath.Dir(path),
		opts:  opts,
		res:   map[string]*resource{},
		conds: map[string]*condition{},
	}
	if abs, err := filepath.Abs(l.dir); err == nil {
		l.dir = abs
	}
	if len(data) > MaxTemplateBytes {
		return nil, Errors{{File: path, Message: fmt.Sprintf("the template is %d bytes; the limit is %d", len(data), MaxTemplateBytes)}}
	}
	root := parse(path, data, &l.errs)
	if root != nil {
		l.load(root)
	}
	if len(l.errs) > 0 {
		return nil, l.errs.sorted()
	}
	return l.st, nil
}

type loader struct {
	file string
	dir  string
	opts Options
	errs Errors

	params   map[string]*node
	declared map[string]bool
	conds    map[string]*condition
	mappings *node
	res      map[string]*resource
	resOrder []string
	st       *Stack
	// implicit HTTP API routes, by API logical id
	routes map[string][]Route
	// S3 events of functions, by bucket logical id
	bucketEvents map[string][]Notification
	// replication rules' destinations, checked once every bucket is built
	replDests []replDest
	warned    map[string]bool
	// expanded is the text intrinsics made so far (see spend).
	expanded   int
	overBudget bool
}

type condition struct {
	n        *node
	value    bool
	state    int // 0 new, 1 evaluating, 2 done
	keyPos   pos
	declared bool
}

type resource struct {
	id    string
	typ   string
	n     *node
	props *node
	pos   pos
	// enabled is false when the resource's Condition is false.
	enabled bool
	// evaluated resource values: what Ref gives, and attributes.
	ref   *node
	attrs map[string]*node
	// extra refs: SAM's Fn.Version and Fn.Alias.
	extraRefs map[string]*node
	done      bool
	deps      []string
	// unsupported resources are not created; Ref gives the logical id and
	// GetAtt "Id.Attr", so that a template using, say, an origin access
	// control's Id still loads.
	unsupported bool
}

// maxMessageBytes keeps a message quoting a huge value readable.
const maxMessageBytes = 400

func (l *loader) errf(p pos, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxMessageBytes {
		cut := maxMessageBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + fmt.Sprintf("... (%d more bytes)", len(msg)-cut)
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: p.line, Column: p.col, Path: path, Message: msg})
}

func (l *loader) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.warned == nil {
		l.warned = map[string]bool{}
	}
	if !l.warned[msg] {
		l.warned[msg] = true
		l.st.Warnings = append(l.st.Warnings, msg)
	}
}

var topLevel = []string{"AWSTemplateFormatVersion", "Transform", "Description", "Metadata", "Parameters",
	"Mappings", "Conditions", "Globals", "Resources", "Outputs", "Rules"}

func (l *loader) load(root *node) {
	l.st = &Stack{Name: l.opts.StackName, Region: l.opts.Region, File: l.file, EdgeHost: l.opts.EdgeHost}
	if !stackNameRE.MatchString(l.opts.StackName) {
		l.errf(pos{}, "", "stack name %q: must start with a letter and hold only letters, digits and hyphens (at most 128)", l.opts.StackName)
	}
	if root.kind != kMap {
		l.errf(root.pos, "", "a template must be a map with a Resources section, got %s", describe(root))
		return
	}
	for i, k := range root.keys {
		if !slices.Contains(topLevel, k) {
			l.errf(root.keyPos[i], k, "unknown top-level section (expected one of %s)", strings.Join(topLevel, ", "))
		}
	}
	if v := root.get("AWSTemplateFormatVersion"); v != nil && (v.kind != kScalar || v.str != "2010-09-09") {
		l.errf(root.keyPosOf("AWSTemplateFormatVersion"), "AWSTemplateFormatVersion", "must be \"2010-09-09\"")
	}
	sam := false
	if t := root.get("Transform"); t != nil {
		var names []*node
		switch t.kind {
		case kScalar:
			names = []*node{t}
		case kSeq:
			names = t.items
		default:
			l.errf(root.keyPosOf("Transform"), "Transform", "must be a string or a list of strings")
		}
		for _, n := range names {
			if n.kind == kScalar && n.str == "AWS::Serverless-2016-10-31" {
				sam = true
			} else {
				l.errf(n.pos, "Transform", "unsupported transform %s: only AWS::Serverless-2016-10-31 is", describe(n))
			}
		}
	}
	if r := root.get("Rules"); r != nil {
		l.warn("Rules: template rules are not evaluated")
	}
	l.loadParameters(root.get("Parameters"), root.keyPosOf("Parameters"))
	if m := root.get("Mappings"); m != nil {
		if m.kind != kMap {
			l.errf(root.keyPosOf("Mappings"), "Mappings", "must be a map")
		} else {
			l.mappings = m
		}
	}
	l.declareConditions(root.get("Conditions"), root.keyPosOf("Conditions"))
	resources := root.get("Resources")
	if resources == nil || resources.kind != kMap || len(resources.keys) == 0 {
		l.errf(root.keyPosOf("Resources"), "Resources", "a template needs a Resources section with at least one resource")
		return
	}
	var globals map[string]*node
	if g := root.get("Globals"); g != nil {
		if !sam {
			l.errf(root.keyPosOf("Globals"), "Globals", "Globals need Transform: AWS::Serverless-2016-10-31")
		} else {
			globals = l.checkGlobals(g, root.keyPosOf("Globals"))
		}
	}
	l.declareResources(resources, sam, globals)
	for name, c := range l.conds {
		l.evalCondition(name, c.keyPos, "Conditions."+name)
	}
	if len(l.errs) > 0 {
		return
	}
	order := l.sortResources()
	if order == nil {
		return
	}
	l.routes = map[string][]Route{}
	l.bucketEvents = map[string][]Notification{}
	for _, id := range order {
		r := l.res[id]
		if r.enabled {
			l.buildResource(r)
		}
		r.done = true
	}
	l.finish()
	l.loadOutputs(root.get("Outputs"), root.keyPosOf("Outputs"))
}

// --- Parameters ---

var pseudoParams = []string{"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId",
	"AWS::Partition", "AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs"}

func (l *loader) loadParameters(ps *node, at pos) {
	l.params = map[string]*node{}
	if ps == nil {
		for k := range l.opts.Parameters {
			l.errf(pos{}, "Parameters", "override %q names no parameter of the template", k)
		}
		return
	}
	if ps.kind != kMap {
		l.errf(at, "Parameters", "must be a map")
		return
	}
	for k := range l.opts.Parameters {
		if ps.get(k) == nil {
			l.errf(at, "Parameters", "override %q names no parameter of the template", k)
		}
	}
	l.declared = map[string]bool{}
	for i, name := range ps.keys {
		l.declared[name] = true
		path := "Parameters." + name
		kp := ps.keyPos[i]
		p := ps.vals[i]
		if !logicalIDRE.MatchString(name) {
			l.errf(kp, path, "a parameter name must be alphanumeric")
		}
		if p.kind != kMap {
			l.errf(kp, path, "must be a map with a Type")
			continue
		}
		for j, k := range p.keys {
			switch k {
			case "Type", "Default", "AllowedValues", "AllowedPattern", "MinValue", "MaxValue",
				"MinLength", "MaxLength", "Description", "ConstraintDescription", "NoEcho":
			default:
				l.errf(p.keyPos[j], path+"."+k, "unknown parameter attribute")
			}
		}
		typ := "String"
		if t := p.get("Type"); t == nil || t.kind != kScalar {
			l.errf(kp, path+".Type", "a parameter needs a Type (String, Number, CommaDelimitedList, List<Number>)")
			continue
		} else {
			typ = t.str
		}
		switch {
		case typ == "String", typ == "Number", typ == "CommaDelimitedList", typ == "List<Number>":
		case strings.HasPrefix(typ, "AWS::SSM::"):
			l.errf(p.keyPosOf("Type"), path+".Type", "SSM parameter types are not supported: use Type String with a Default or an override")
			continue
		case strings.HasPrefix(typ, "AWS::") || strings.HasPrefix(typ, "List<AWS::"):
			// AWS-specific types (key pair names, VPC ids) are plain strings here.
		default:
			l.errf(p.keyPosOf("Type"), path+".Type", "unknown parameter type %q", typ)
			continue
		}
		var raw string
		var rawPos pos
		if v, ok := l.opts.Parameters[name]; ok {
			raw, rawPos = v, kp
		} else if d := p.get("Default"); d != nil {
			if d.kind == kSeq && (typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")) {
				parts := make([]string, 0, len(d.items))
				for _, it := range d.items {
					parts = append(parts, it.str)
				}
				raw = strings.Join(parts, ",")
			} else if d.kind != kScalar {
				l.errf(p.keyPosOf("Default"), path+".Default", "must be a string")
				continue
			} else {
				raw = d.str
			}
			rawPos = p.keyPosOf("Default")
		} else {
			l.errf(kp, path, "no value: the parameter has no Default; give one with --parameter-overrides %s=VALUE", name)
			continue
		}
		val, ok := l.checkParameter(name, typ, raw, p, rawPos, path)
		if ok {
			l.params[name] = val
		}
	}
}

func (l *loader) checkParameter(name, typ, raw string, p *node, at pos, path string) (*node, bool) {
	ok := true
	var values []string
	list := typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")
	if list {
		for _, s := range strings.Split(raw, ",") {
			values = append(values, strings.TrimSpace(s))
		}
	} else {
		values = []string{raw}
	}
	number := typ == "Number" || typ == "List<Number>"
	// A NoEcho value (a webhook secret, a password) is not quoted back.
	noEcho := false
	if ne := p.get("NoEcho"); ne != nil {
		noEcho, _ = asBool(ne)
	}
	show := func(v string) string {
		if noEcho {
			return "(NoEcho)"
		}
		return strconv.Quote(v)
	}
	for _, v := range values {
		if number {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				l.errf(at, path, "value %s is not a number", show(v))
				ok = false
				continue
			}
		}
		if av := p.get("AllowedValues"); av != nil {
			if av.kind != kSeq {
				l.errf(p.keyPosOf("AllowedValues"), path+".AllowedValues", "must be a list")
				return nil, false
			}
			allowed := []string{}
			for _, it := range av.items {
				allowed = append(allowed, it.str)
			}
			if !slices.Contains(allowed, v) {
				l.errf(at, path, "value %s is not one of the AllowedValues: %s", show(v), strings.Join(allowed, ", "))
				ok = false
			}
		}
		if ap := p.get("AllowedPattern"); ap != nil && ap.kind == kScalar {
			re, err := regexp.Compile("^(?:" + ap.str + ")$")
			if err != nil {
				l.errf(p.keyPosOf("AllowedPattern"), path+".AllowedPattern", "invalid pattern: %v", err)
				return nil, false
			}
			if !re.MatchString(v) {
				l.errf(at, path, "value %s does not match the AllowedPattern %s", show(v), ap.str)
				ok = false
			}
		}
		for _, b := range []struct {
			key string
			cmp func(a, b float64) bool
			msg string
		}{
			{"MinValue", func(a, b float64) bool { return a >= b }, "smaller than the MinValue"},
			{"MaxValue", func(a, b float64) bool { return a <= b }, "larger than the MaxValue"},
		} {
			lim := p.get(b.key)
			if lim == nil {
				continue
			}
			lv, err := strconv.ParseFloat(lim.str, 64)
			if lim.kind != kScalar || err != nil {
				l.errf(p.keyPosOf(b.key), path+"."+b.key, "must be a number")
				return nil, false
			}
			if f, err := strconv.ParseFloat(v, 64); err == nil && number && !b.cmp(f, lv) {
				l.errf(at, path, "value %s is %s %s", strings.Trim(show(v), `"`), b.msg, lim.str)
				ok = false
			}
		}
		for _, b := range []struct {
			key  string
			good func(n, lim int) bool
			msg  string
		}{
			{"MinLength", func(n, lim int) bool { return n >= lim }, "shorter than the MinLength"},
			{"MaxLength", func(n, lim int) bool { return n <= lim }, "longer than the MaxLength"},
		} {
			lim := p.get(b.key)
			if lim == nil {
				continue
			}
			lv, err := strconv.Atoi(lim.str)
			if lim.kind != kScalar || err != nil {
				l.errf(p.keyPosOf(b.key), path+"."+b.key, "must be an integer")
				return nil, false
			}
			if !b.good(len(v), lv) {
				l.errf(at, path, "value %s is %s %d", show(v), b.msg, lv)
				ok = false
			}
		}
	}
	if !ok {
		return nil, false
	}
	if list {
		n := &node{kind: kSeq, pos: at}
		for _, v := range values {
			n.items = append(n.items, scalar(v, at))
		}
		return n, true
	}
	return scalar(raw, at), true
}

// ParseOverrides parses --parameter-overrides: space-separated Key=Value
// pairs as SAM CLI takes them, also in its ParameterKey=K,ParameterValue=V
// form. A value may be quoted ("a b" or 'a b') to hold spaces.
func ParseOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	var fields []string
	var cur strings.Builder
	var quote rune
	inField := false
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inField = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inField {
				fields = append(fields, cur.String())
				cur.Reset()
				inField = false
			}
		default:
			cur.WriteRune(r)
			inField = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("parameter overrides: unterminated quote")
	}
	if inField {
		fields = append(fields, cur.String())
	}
	for _, f := range fields {
		var k, v string
		if rest, ok := strings.CutPrefix(f, "ParameterKey="); ok {
			key, val, found := strings.Cut(rest, ",ParameterValue=")
			if !found {
				return nil, fmt.Errorf("parameter overrides: %q: expected ParameterKey=K,ParameterValue=V", f)
			}
			k, v = key, val
		} else {
			key, val, found := strings.Cut(f, "=")
			if !found {
				return nil, fmt.Errorf("parameter overrides: %q: expected Key=Value", f)
			}
			k, v = key, val
		}
		if k == "" || !logicalIDRE.MatchString(k) {
			return nil, fmt.Errorf("parameter overrides: %q is not a parameter name", k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("parameter overrides: %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// --- Conditions ---

func (l *loader) declareConditions(cs *node, at pos) {
	if cs == nil {
		return
	}
	if cs.kind != kMap {
		l.errf(at, "Conditions", "must be a map")
		return
	}
	for i, name := range cs.keys {
		l.conds[name] = &condition{n: cs.vals[i], keyPos: cs.keyPos[i], declared: true}
	}
}

// evalCondition evaluates a named condition once, refusing cycles.
func (l *loader) evalCondition(name string, at pos, path string) (bool, bool) {
	c, ok := l.conds[name]
	if !ok {
		l.errf(at, path, "unknown condition %q", name)
		return false, false
	}
	switch c.state {
	case 1:
		l.errf(c.keyPos, "Conditions."+name, "the condition refers to itself through other conditions")
		c.state = 2
		return false, false
	case 2:
		return c.value, true
	}
	c.state = 1
	e := &evaluator{l: l, conditionCtx: true}
	v := e.eval(c.n, "Conditions."+name)
	c.state = 2
	if v == nil || v.bad {
		return false, false
	}
	b, ok := asBool(v)
	if !ok {
		l.errf(c.n.pos, "Conditions."+name, "a condition must evaluate to true or false, got %s", describe(v))
		return false, false
	}
	c.value = b
	return b, true
}

func asBool(n *node) (bool, bool) {
	if n == nil || n.kind != kScalar {
		return false, false
	}
	switch strings.ToLower(n.str) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// --- Resources: declaration, dependencies, order ---

var logicalIDRE = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)

func (l *loader) declareResources(rs *node, sam bool, globals map[string]*node) {
	for i, id := range rs.keys {
		path := "Resources." + id
		kp := rs.keyPos[i]
		rn := rs.vals[i]
		if !logicalIDRE.MatchString(id) {
			l.errf(kp, path, "a logical id must be alphanumeric (A-Z, a-z, 0-9)")
			continue
		}
		if _, ok := l.params[id]; ok {
			l.errf(kp, path, "a resource and a parameter share the name %q", id)
		}
		if rn.kind != kMap {
			l.errf(kp, path, "must be a map with a Type")
			continue
		}
		r := &resource{id: id, n: rn, pos: kp, enabled: true}
		for j, k := range rn.keys {
			switch k {
			case "Type", "Properties", "DependsOn", "Condition", "Metadata", "DeletionPolicy",
				"UpdateReplacePolicy", "UpdatePolicy", "CreationPolicy":
			default:
				l.errf(rn.keyPos[j], path+"."+k, "unknown resource attribute (expected Type, Properties, DependsOn, Condition, Metadata, DeletionPolicy, UpdateReplacePolicy)")
			}
		}
		t := rn.get("Type")
		if t == nil || t.kind != kScalar || t.str == "" {
			l.errf(kp, path+".Type", "a resource needs a Type")
			continue
		}
		r.typ = t.str
		if strings.HasPrefix(r.typ, "AWS::Serverless::") && !sam {
			l.errf(rn.keyPosOf("Type"), path+".Type", "%s needs Transform: AWS::Serverless-2016-10-31", r.typ)
		}
		r.props = rn.get("Properties")
		if r.props != nil && r.props.kind != kMap {
			l.errf(rn.keyPosOf("Properties"), path+".Properties", "must be a map")
			r.props = nil
		}
		if r.props == nil {
			r.props = &node{kind: kMap, pos: kp}
		}
		if g := globals[globalSection(r.typ)]; g != nil {
			r.props = mergeGlobals(g, r.props)
		}
		if c := rn.get("Condition"); c != nil {
			if c.kind != kScalar {
				l.errf(rn.keyPosOf("Condition"), path+".Condition", "must be a condition name")
			} else if v, ok := l.evalCondition(c.str, rn.keyPosOf("Condition"), path+".Condition"); ok {
				r.enabled = v
			}
		}
		l.res[id] = r
		l.resOrder = append(l.resOrder, id)
	}
	if l.res["ServerlessHttpApi"] == nil && implicitAPINeeded(l.res) {
		props := mergeGlobals(globals["HttpApi"], &node{kind: kMap, pos: rs.pos})
		r := &resource{id: "ServerlessHttpApi", typ: "AWS::Serverless::HttpApi", n: &node{kind: kMap, pos: rs.pos},
			props: props, pos: rs.pos, enabled: true}
		l.res[r.id] = r
		l.resOrder = append(l.resOrder, r.id)
	}
}

// implicitAPINeeded reports whether a function has an HttpApi event without
// ApiId: SAM then creates the API ServerlessHttpApi.
func implicitAPINeeded(res map[string]*resource) bool {
	for _, r := range res {
		if r.typ != "AWS::Serverless::Function" {
			continue
		}
		ev := r.props.get("Events")
		if ev == nil || ev.kind != kMap {
			continue
		}
		for _, en := range ev.vals {
			if t := en.get("Type"); t != nil && t.kind == kScalar && t.str == "HttpApi" && en.get("Properties").get("ApiId") == nil {
				return true
			}
		}
	}
	return false
}

// sortResources orders resources so that each comes after what it refers
// to, or reports the cycles.
func (l *loader) sortResources() []string {
	for _, id := range l.resOrder {
		r := l.res[id]
		seen := map[string]bool{}
		add := func(dep string, at pos, path string) {
			if dep == id || seen[dep] {
				return
			}
			if _, ok := l.res[dep]; ok {
				seen[dep] = true
				r.deps = append(r.deps, dep)
			}
		}
		l.collectDeps(r.props, add, "Resources."+id+".Properties", nil)
		if d := r.n.get("DependsOn"); d != nil {
			var names []*node
			if d.kind == kSeq {
				names = d.items
			} else {
				names = []*node{d}
			}
			for _, n := range names {
				if n.kind != kScalar {
					l.errf(n.pos, "Resources."+id+".DependsOn", "must be a resource name or a list of them")
					continue
				}
				if _, ok := l.res[n.str]; !ok {
					l.errf(n.pos, "Resources."+id+".DependsOn", "no resource named %q", n.str)
					continue
				}
				add(n.str, n.pos, "")
			}
		}
	}
	if len(l.errs) > 0 {
		return nil
	}
	var order []string
	state := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		switch state[id] {
		case 2:
			return
		case 1:
			i := slices.Index(stack, id)
			cycle := append(slices.Clone(stack[i:]), id)
			key := strings.Join(sortedCopy(cycle[:len(cycle)-1]), ",")
			if !reported[key] {
				reported[key] = true
				l.errf(l.res[id].pos, "Resources."+id, "circular dependency between resources: %s", strings.Join(cycle, " -> "))
			}
			return
		}
		state[id] = 1
		stack = append(stack, id)
		for _, d := range l.res[id].deps {
			visit(d)
		}
		stack = stack[:len(stack)-1]
		state[id] = 2
		order = append(order, id)
	}
	for _, id := range l.resOrder {
		visit(id)
	}
	if len(l.errs) > 0 {
		return nil
	}
	return order
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

// collectDeps finds the resources a raw value refers to: Ref, GetAtt and
// the variables of Sub (minus Sub's own variable map).
func (l *loader) collectDeps(n *node, add func(string, pos, string), path string, local map[string]bool) {
	if n == nil {
		return
	}
	if fn, arg, ok := n.fnName(); ok {
		switch fn {
		case "Ref":
			if arg.kind == kScalar {
				name, _, _ := strings.Cut(arg.str, ".")
				add(name, n.pos, path)
			}
			return
		case "Fn::GetAtt":
			if arg.kind == kScalar {
				name, _, _ := strings.Cut(arg.str, ".")
				add(name, n.pos, path)
			} else if arg.kind == kSeq && len(arg.items) > 0 && arg.items[0].kind == kScalar {
				add(arg.items[0].str, n.pos, path)
			}
			return
		case "Fn::Sub":
			var s *node
			vars := map[string]bool{}
			if arg.kind == kScalar {
				s = arg
			} else if arg.kind == kSeq && len(arg.items) == 2 {
				s = arg.items[0]
				if m := arg.items[1]; m.kind == kMap {
					for i, k := range m.keys {
						vars[k] = true
						l.collectDeps(m.vals[i], add, path, nil)
					}
				}
			}
			if s != nil && s.kind == kScalar {
				for _, v := range subVars(s.str) {
					if !vars[v] {
						name, _, _ := strings.Cut(v, ".")
						add(name, n.pos, path)
					}
				}
			}
			return
		}
	}
	switch n.kind {
	case kMap:
		for _, v := range n.vals {
			l.collectDeps(v, add, path, local)
		}
	case kSeq:
		for _, v := range n.items {
			l.collectDeps(v, add, path, local)
		}
	}
}

// subVars lists the ${...} variables of a Sub string (not ${!literals}).
func subVars(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return out
		}
		v := s[i+2 : i+j]
		if !strings.HasPrefix(v, "!") {
			out = append(out, strings.TrimSpace(v))
		}
		s = s[i+j+1:]
	}
}

// --- Globals ---

var globalKeys = map[string][]string{
	"Function": {"Runtime", "Handler", "Timeout", "MemorySize", "Environment", "CodeUri", "Architectures",
		"Layers", "Tags", "ReservedConcurrentExecutions", "AutoPublishAlias", "Description", "Policies",
		"Role", "EventInvokeConfig", "PackageType", "Tracing", "VpcConfig", "KmsKeyArn",
		"DeadLetterQueue", "EphemeralStorage", "LoggingConfig", "PermissionsBoundary",
		"ProvisionedConcurrencyConfig", "DeploymentPreference", "AssumeRolePolicyDocument",
		"FileSystemConfigs", "CodeSigningConfigArn", "AutoPublishCodeSha256", "AutoPublishAliasAllProperties",
		"RuntimeManagementConfig", "SnapStart", "FunctionUrlConfig", "RecursiveLoop"},
	"HttpApi": {"CorsConfiguration", "StageName", "Auth", "AccessLogSettings", "DefaultRouteSettings",
		"RouteSettings", "StageVariables", "Tags", "Domain", "FailOnWarnings", "PropagateTags", "DisableExecuteApiEndpoint"},
}

func globalSection(typ string) string {
	switch typ {
	case "AWS::Serverless::Function":
		return "Function"
	case "AWS::Serverless::HttpApi":
		return "HttpApi"
	}
	return ""
}

func (l *loader) checkGlobals(g *node, at pos) map[string]*node {
	if g.kind != kMap {
		l.errf(at, "Globals", "must be a map")
		return nil
	}
	out := map[string]*node{}
	for i, sec := range g.keys {
		path := "Globals." + sec
		v := g.vals[i]
		allowed, ok := globalKeys[sec]
		if !ok {
			switch sec {
			case "Api", "SimpleTable", "StateMachine", "LayerVersion", "CapacityProvider":
				l.warn("Globals.%s: ignored (no resources of that kind are supported)", sec)
			default:
				l.errf(g.keyPos[i], path, "unknown Globals section (expected Function, HttpApi, Api, SimpleTable, StateMachine, LayerVersion)")
			}
			continue
		}
		if v.kind != kMap {
			l.errf(g.keyPos[i], path, "must be a map")
			continue
		}
		for j, k := range v.keys {
			if !slices.Contains(allowed, k) {
				l.errf(v.keyPos[j], path+"."+k, "this property cannot be set in Globals")
			}
		}
		out[sec] = v
	}
	return out
}

// mergeGlobals merges SAM's way: scalars and intrinsics of the resource
// override, maps merge key by key (resource wins), lists are concatenated
// (globals first).
func mergeGlobals(g, r *node) *node {
	if g == nil {
		return r
	}
	if r == nil {
		return g
	}
	_, _, gi := g.fnName()
	_, _, ri := r.fnName()
	switch {
	case gi || ri:
		return r
	case g.kind == kMap && r.kind == kMap:
		out := &node{kind: kMap, pos: r.pos}
		for i, k := range g.keys {
			out.set(k, g.vals[i], g.keyPos[i])
		}
		for i, k := range r.keys {
			if gv := g.get(k); gv != nil {
				out.set(k, mergeGlobals(gv, r.vals[i]), r.keyPos[i])
				// keep the resource's key position for errors
				out.keyPos[slices.Index(out.keys, k)] = r.keyPos[i]
			} else {
				out.set(k, r.vals[i], r.keyPos[i])
			}
		}
		return out
	case g.kind == kSeq && r.kind == kSeq:
		out := &node{kind: kSeq, pos: r.pos}
		out.items = append(append(out.items, g.items...), r.items...)
		return out
	}
	return r
}

// --- naming ---

func functionARN(region, name string) string {
	return "arn:aws:lambda:" + region + ":" + AccountID + ":function:" + name
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// generatedBucketName is CloudFormation's stack-logicalid naming, minus the
// random suffix: stable, so a restart finds the same bucket.
func generatedBucketName(stack, id string) string {
	s := strings.ToLower(stack + "-" + id)
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > 63 {
		sum := sha256.Sum256([]byte(out))
		out = out[:50] + "-" + strings.ToLower(base32(sum[:])[:12])
	}
	return strings.Trim(out, "-")
}

// apiID is a stable 10-character id for an HTTP API, shaped like API
// Gateway's.
func apiID(stack, id string) string {
	sum := sha256.Sum256([]byte(stack + "/" + id))
	n := new(big.Int).SetBytes(sum[:8])
	s := n.Text(36)
	for len(s) < 10 {
		s = "0" + s
	}
	return s[:10]
}

func base32(b []byte) string {
	return strings.TrimRight(strings.ToUpper(new(big.Int).SetBytes(b).Text(32)), "=")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
