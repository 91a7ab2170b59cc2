package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Resource kinds in the state file and in changes.
const (
	kindBucket       = "bucket"
	kindFunction     = "function"
	kindVersion      = "version"
	kindAPI          = "api"
	kindDistribution = "distribution"
	kindOAC          = "oac"
	kindOAI          = "oai"
	kindBucketPolicy = "bucketpolicy"
)

// state is what Apply knows about the resources it made, by logical id:
// physical ids (a distribution's Id is assigned by CloudFront) and a hash of
// the configuration last applied, so an unchanged resource is left alone.
type state struct {
	Stack     string                 `json:"stack"`
	Resources map[string]*stateEntry `json:"resources"`
}

type stateEntry struct {
	Kind     string `json:"kind"`
	Physical string `json:"physical"`
	Hash     string `json:"hash"`
	// DomainName of a distribution.
	DomainName string `json:"domainName,omitempty"`
	// VersionARN is the version last published for a function with
	// AutoPublishAlias, or by an AWS::Lambda::Version.
	VersionARN string `json:"versionArn,omitempty"`
	// Buckets: hashes of the notification and replication configurations
	// last put ("" = none).
	NotifyHash string `json:"notifyHash,omitempty"`
	ReplHash   string `json:"replHash,omitempty"`
	TagsHash   string `json:"tagsHash,omitempty"`
	// Versioning is the bucket's versioning status last put from the
	// template ("" = none).
	Versioning string `json:"versioning,omitempty"`
	// CanonicalUser is an origin access identity's S3CanonicalUserId.
	CanonicalUser string `json:"canonicalUser,omitempty"`
}

func statePath(dataDir, stack string) string {
	return filepath.Join(dataDir, "stacks", stack+".json")
}

func loadState(path, stack string) (*state, error) {
	st := &state{Stack: stack, Resources: map[string]*stateEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stack state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("parse stack state %s: %w", path, err)
	}
	if st.Resources == nil {
		st.Resources = map[string]*stateEntry{}
	}
	return st, nil
}

// save writes the state atomically: a crash leaves the old or the new file.
func (s *state) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stack state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write stack state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync stack state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install stack state: %w", err)
	}
	return nil
}

// Change actions.
const (
	ActionCreate    = "create"
	ActionUpdate    = "update"
	ActionUnchanged = "unchanged"
	ActionDelete    = "delete"
)

// Change is one thing Apply did (or found already done).
type Change struct {
	Action     string
	Kind       string
	LogicalID  string
	PhysicalID string
}

// desired is one resource as the template wants it.
type desired struct {
	LogicalID string
	Kind      string
	Hash      string
}

// plan compares the template's resources with the state: new ones are
// created, ones whose hash differs updated, the rest unchanged, and state
// entries the template no longer has (or has as another kind) deleted.
// Deletions come last, in reverse order of kind (distributions before the
// functions they use, buckets last).
func plan(want []desired, st *state) []Change {
	var out []Change
	seen := map[string]bool{}
	for _, w := range want {
		seen[w.LogicalID] = true
		e := st.Resources[w.LogicalID]
		switch {
		case e == nil:
			out = append(out, Change{Action: ActionCreate, Kind: w.Kind, LogicalID: w.LogicalID})
		case e.Kind != w.Kind:
			out = append(out, Change{Action: ActionDelete, Kind: e.Kind, LogicalID: w.LogicalID, PhysicalID: e.Physical},
				Change{Action: ActionCreate, Kind: w.Kind, LogicalID: w.LogicalID})
		case e.Hash != w.Hash:
			out = append(out, Change{Action: ActionUpdate, Kind: w.Kind, LogicalID: w.LogicalID, PhysicalID: e.Physical})
		default:
			out = append(out, Change{Action: ActionUnchanged, Kind: w.Kind, LogicalID: w.LogicalID, PhysicalID: e.Physical})
		}
	}
	var dels []Change
	for id, e := range st.Resources {
		if !seen[id] {
			dels = append(dels, Change{Action: ActionDelete, Kind: e.Kind, LogicalID: id, PhysicalID: e.Physical})
		}
	}
	rank := map[string]int{kindDistribution: 0, kindAPI: 1, kindVersion: 2, kindFunction: 3, kindOAC: 4, kindOAI: 4, kindBucketPolicy: 4, kindBucket: 5}
	sort.Slice(dels, func(i, j int) bool {
		if rank[dels[i].Kind] != rank[dels[j].Kind] {
			return rank[dels[i].Kind] < rank[dels[j].Kind]
		}
		return dels[i].LogicalID < dels[j].LogicalID
	})
	return append(out, dels...)
}
