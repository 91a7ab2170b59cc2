package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// setting is one configuration key. Its value comes from, in rising order of
// precedence: the built-in default, the config file, the environment
// variable, the command-line flag.
type setting struct {
	name  string // flag name and config-file key
	env   string // environment variable, "" for none
	def   string
	usage string
	value string
}

// settings is an ordered set of settings bound to a flag set.
type settings struct {
	list []*setting
	byID map[string]*setting
}

func newSettings(fs *flag.FlagSet, list ...*setting) *settings {
	s := &settings{list: list, byID: make(map[string]*setting, len(list))}
	for _, st := range list {
		st.value = st.def
		usage := st.usage
		if st.env != "" {
			usage += " (env " + st.env + ")"
		}
		fs.StringVar(&st.value, st.name, st.def, usage)
		s.byID[st.name] = st
	}
	return s
}

// resolve applies the config file and the environment to every setting the
// command line did not set. It must run after fs.Parse.
func (s *settings) resolve(fs *flag.FlagSet, configFile string) error {
	fromFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { fromFlags[f.Name] = true })

	fromFile := map[string]string{}
	if configFile != "" {
		b, err := os.ReadFile(configFile)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			return fmt.Errorf("config file %s: %w", configFile, err)
		}
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := s.byID[k]; !ok || k == "config" {
				return fmt.Errorf("config file %s: unknown key %q", configFile, k)
			}
			fromFile[k] = fmt.Sprint(raw[k])
		}
	}
	for _, st := range s.list {
		if fromFlags[st.name] {
			continue
		}
		if v, ok := os.LookupEnv(st.env); ok && st.env != "" {
			st.value = v
		} else if v, ok := fromFile[st.name]; ok {
			st.value = v
		}
	}
	return nil
}

func (s *settings) get(name string) string { return s.byID[name].value }

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
