package benchkit

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SplitList splits a comma-separated flag value, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ParseInts reads a comma-separated list of integers; range checks are the
// caller's Validate's.
func ParseInts(s string) ([]int, error) {
	var out []int
	for _, f := range SplitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseSizes reads "4KiB,1MiB,100" into bytes. An empty list is no error:
// the caller's Validate says which flag needs one.
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range SplitList(s) {
		mult, num := 1, f
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
			if strings.HasSuffix(f, u.suffix) {
				num, mult = strings.TrimSuffix(f, u.suffix), u.mult
				break
			}
		}
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || n > (1<<40)/mult {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

// SizeLabel prints a size the way ParseSizes reads it, in the largest unit
// that divides it.
func SizeLabel(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// FlagSet reports whether the named flag was given on the command line.
func FlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// ValidateWindow checks the measured window flags the grid benches share:
// -duration cut into -rounds slices, each after -warmup (a quarter of it
// after the first).
func ValidateWindow(duration, warmup time.Duration, rounds int) error {
	if duration <= 0 {
		return errors.New("-duration: must be positive")
	}
	if rounds < 1 || duration/time.Duration(max(rounds, 1)) < 100*time.Millisecond {
		return errors.New("-rounds: at least 1, and each slice of -duration at least 100ms")
	}
	if warmup < 0 {
		return errors.New("-warmup: must not be negative")
	}
	return nil
}
