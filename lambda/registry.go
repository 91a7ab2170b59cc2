package lambda

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// Bucket names in lambda.db.
var (
	bucketFunctions = []byte("functions")
	bucketQueue     = []byte("queue")
	bucketDead      = []byte("dead")
	// bucketBuiltinEnv holds the environment users gave built-ins, by
	// regionKey: the only setting of a built-in that may change.
	bucketBuiltinEnv = []byte("builtin-env")
)

// versionRecord is one version of a function: $LATEST, which updates change,
// or a published version, which never changes once written.
type versionRecord struct {
	Version          string            `json:"version"`
	Runtime          string            `json:"runtime"`
	Role             string            `json:"role"`
	Handler          string            `json:"handler"`
	Description      string            `json:"description,omitempty"`
	Timeout          int               `json:"timeout"`
	MemorySize       int               `json:"memorySize"`
	Env              map[string]string `json:"env,omitempty"`
	Architectures    []string          `json:"architectures"`
	EphemeralStorage int               `json:"ephemeralStorage"`
	Code             codeInfo          `json:"code"`
	LastModified     time.Time         `json:"lastModified"`
	RevisionID       string            `json:"revisionId"`
}

// sameAs reports whether publishing v after prev would publish nothing new:
// Lambda returns the existing version when neither code nor configuration
// changed.
func (v *versionRecord) sameAs(prev *versionRecord) bool {
	a, b := *v, *prev
	a.Version, b.Version = "", ""
	a.LastModified, b.LastModified = time.Time{}, time.Time{}
	a.RevisionID, b.RevisionID = "", ""
	a.Description, b.Description = "", ""
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// eventInvokeConfig is a function's (or version's) asynchronous invocation
// configuration.
type eventInvokeConfig struct {
	MaximumRetryAttempts     *int               `json:"maximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int               `json:"maximumEventAgeInSeconds,omitempty"`
	DestinationConfig        *destinationConfig `json:"destinationConfig,omitempty"`
	LastModified             time.Time          `json:"lastModified"`
}

type destinationConfig struct {
	OnSuccess *destination `json:"OnSuccess,omitempty"`
	OnFailure *destination `json:"OnFailure,omitempty"`
}

type destination struct {
	Destination string `json:"Destination,omitempty"`
}

// aliasRecord points a name at a version, optionally sending a share of
// invocations to a second version (RoutingConfig).
type aliasRecord struct {
	Name            string             `json:"name"`
	FunctionVersion string             `json:"functionVersion"`
	Description     string             `json:"description,omitempty"`
	Weights         map[string]float64 `json:"weights,omitempty"`
	RevisionID      string             `json:"revisionId"`
}

// functionRecord is everything the registry knows about one function.
type functionRecord struct {
	Region      string                        `json:"region"`
	Name        string                        `json:"name"`
	Latest      versionRecord                 `json:"latest"`
	Versions    []versionRecord               `json:"versions,omitempty"` // published, ascending
	LastVersion int                           `json:"lastVersion"`
	Tags        map[string]string             `json:"tags,omitempty"`
	Concurrency *int                          `json:"concurrency,omitempty"`
	EventInvoke map[string]*eventInvokeConfig `json:"eventInvoke,omitempty"` // by qualifier
	Aliases     map[string]*aliasRecord       `json:"aliases,omitempty"`
	Created     time.Time                     `json:"created"`

	// builtin is set on the records of built-in functions, which are never
	// stored.
	builtin *builtin
}

// arn is the function's unqualified ARN.
func (f *functionRecord) arn() string { return functionARN(f.Region, f.Name) }

func functionARN(region, name string) string {
	return "arn:aws:lambda:" + region + ":" + sluice.AccountID + ":function:" + name
}

// version returns the version a qualifier names ("$LATEST", a number, or
// an alias's primary version), or nil.
func (f *functionRecord) version(q string) *versionRecord {
	if q == "" || q == sluice.DefaultQualifier {
		return &f.Latest
	}
	if a := f.Aliases[q]; a != nil {
		return f.version(a.FunctionVersion)
	}
	for i := range f.Versions {
		if f.Versions[i].Version == q {
			return &f.Versions[i]
		}
	}
	return nil
}

// invocationVersion is version, except that an alias with a routing
// configuration sends each additional version its weight's share of
// invocations, chosen at random as Lambda does.
func (f *functionRecord) invocationVersion(q string) *versionRecord {
	if a := f.Aliases[q]; a != nil && len(a.Weights) > 0 {
		r := rand.Float64()
		for _, v := range slices.Sorted(maps.Keys(a.Weights)) {
			if r < a.Weights[v] {
				if ver := f.version(v); ver != nil {
					return ver
				}
			}
			r -= a.Weights[v]
		}
	}
	return f.version(q)
}

// clone deep-copies f so that an update never mutates a record readers hold.
func (f *functionRecord) clone() *functionRecord {
	b, err := json.Marshal(f)
	if err != nil {
		panic(fmt.Sprintf("lambda: marshal function record: %v", err))
	}
	var c functionRecord
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("lambda: unmarshal function record: %v", err))
	}
	return &c
}

// registry is the durable set of functions. Records live in bbolt and, for
// cheap reads on the invoke path, in memory as immutable snapshots: an update
// clones the record, changes the clone, commits it and then swaps it in.
// Writes are serialized by mu so that read-check-write sequences (RevisionId
// preconditions, version numbering) are atomic.
type registry struct {
	db *bolt.DB

	mu  sync.RWMutex
	fns map[string]*functionRecord // by regionKey
	// builtins are the built-in functions by name; their records are built
	// per region on first use and kept in builtinFns (by regionKey).
	builtins   map[string]*builtin
	builtinFns map[string]*functionRecord
}

func regionKey(region, name string) string { return region + "\x00" + name }

func openRegistry(db *bolt.DB) (*registry, error) {
	r := &registry{db: db, fns: make(map[string]*functionRecord),
		builtins: make(map[string]*builtin), builtinFns: make(map[string]*functionRecord)}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketFunctions, bucketQueue, bucketDead, bucketBuiltinEnv} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(bucketFunctions).ForEach(func(k, v []byte) error {
			var f functionRecord
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("decode function %q: %w", k, err)
			}
			r.fns[string(k)] = &f
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// get returns the function's current snapshot; callers must not modify it.
// A built-in's name finds the built-in in every region.
func (r *registry) get(region, name string) (*functionRecord, bool) {
	key := regionKey(region, name)
	r.mu.RLock()
	b := r.builtins[name]
	if b == nil {
		f, ok := r.fns[key]
		r.mu.RUnlock()
		return f, ok
	}
	f := r.builtinFns[key]
	r.mu.RUnlock()
	if f != nil {
		return f, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.builtinFns[key]; f != nil {
		return f, true
	}
	f = b.record(region)
	var env map[string]string
	err := r.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketBuiltinEnv).Get([]byte(key)); v != nil {
			return json.Unmarshal(v, &env)
		}
		return nil
	})
	if err == nil && env != nil {
		f.setBuiltinEnv(env)
	}
	r.builtinFns[key] = f
	return f, true
}

// setBuiltinEnv gives every version of a built-in's record the environment
// env: a built-in has no code of its own to snapshot, so its published
// version follows its configuration.
func (f *functionRecord) setBuiltinEnv(env map[string]string) {
	f.Latest.Env = env
	for i := range f.Versions {
		f.Versions[i].Env = env
	}
}

// updateBuiltinEnv durably replaces the environment of the built-in name in
// region and returns its new record.
func (r *registry) updateBuiltinEnv(region, name string, env map[string]string) (*functionRecord, error) {
	f, ok := r.get(region, name)
	if !ok || f.builtin == nil {
		return nil, functionNotFound(functionARN(region, name))
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	key := regionKey(region, name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBuiltinEnv).Put([]byte(key), b)
	}); err != nil {
		return nil, fmt.Errorf("store environment of %s: %w", name, err)
	}
	next := f.builtin.record(region)
	next.setBuiltinEnv(env)
	next.Latest.LastModified = time.Now()
	r.builtinFns[key] = next
	return next, nil
}

// isBuiltin reports whether name is a built-in function's.
func (r *registry) isBuiltin(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.builtins[name] != nil
}

// addBuiltin registers b and returns the regions where it hides a stored
// function of the same name.
func (r *registry) addBuiltin(b *builtin) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.builtins[b.name] != nil {
		return nil, fmt.Errorf("lambda: built-in %q registered twice", b.name)
	}
	r.builtins[b.name] = b
	var shadowed []string
	for _, f := range r.fns {
		if f.Name == b.name {
			shadowed = append(shadowed, f.Region)
		}
	}
	slices.Sort(shadowed)
	return shadowed, nil
}

// list returns the region's functions sorted by name, built-ins included;
// "" lists the stored functions of every region, without built-ins.
func (r *registry) list(region string) []*functionRecord {
	r.mu.RLock()
	out := make([]*functionRecord, 0, len(r.fns)+len(r.builtins))
	for _, f := range r.fns {
		if (region == "" || f.Region == region) && r.builtins[f.Name] == nil {
			out = append(out, f)
		}
	}
	var builtins []string
	if region != "" {
		builtins = slices.Collect(maps.Keys(r.builtins))
	}
	r.mu.RUnlock()
	for _, name := range builtins {
		f, _ := r.get(region, name)
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *functionRecord) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
	return out
}

// create stores a new function, or fails with ResourceConflictException.
func (r *registry) create(f *functionRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := regionKey(f.Region, f.Name)
	if _, ok := r.fns[key]; ok || r.builtins[f.Name] != nil {
		return sluice.Errorf(sluice.ErrResourceConflict, "Function already exist: %s", f.Name)
	}
	if err := r.put(key, f); err != nil {
		return err
	}
	r.fns[key] = f
	return nil
}

// update applies change to a copy of the function and commits it. change
// returning an error leaves the function as it was.
func (r *registry) update(region, name string, change func(f *functionRecord) error) (*functionRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.builtins[name] != nil {
		return nil, builtinImmutable(name)
	}
	key := regionKey(region, name)
	cur, ok := r.fns[key]
	if !ok {
		return nil, functionNotFound(functionARN(region, name))
	}
	next := cur.clone()
	if err := change(next); err != nil {
		return nil, err
	}
	if err := r.put(key, next); err != nil {
		return nil, err
	}
	r.fns[key] = next
	return next, nil
}

// remove deletes the function and its dead letters and returns what it was.
func (r *registry) remove(region, name string) (*functionRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.builtins[name] != nil {
		return nil, builtinImmutable(name)
	}
	key := regionKey(region, name)
	cur, ok := r.fns[key]
	if !ok {
		return nil, functionNotFound(functionARN(region, name))
	}
	err := r.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketFunctions).Delete([]byte(key)); err != nil {
			return err
		}
		c := tx.Bucket(bucketDead).Cursor()
		prefix := []byte(key + "\x00")
		for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete function %q: %w", name, err)
	}
	delete(r.fns, key)
	return cur, nil
}

func (r *registry) put(key string, f *functionRecord) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode function %q: %w", f.Name, err)
	}
	if err := r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFunctions).Put([]byte(key), b)
	}); err != nil {
		return fmt.Errorf("store function %q: %w", f.Name, err)
	}
	return nil
}

// codeDirsInUse lists the code directories any version of the function
// still needs, so that replaced code can be removed safely.
func (f *functionRecord) codeDirsInUse() map[string]bool {
	used := map[string]bool{f.Latest.Code.Dir: true}
	for _, v := range f.Versions {
		used[v.Code.Dir] = true
	}
	return used
}
