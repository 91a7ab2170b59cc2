// Package slug turns titles into URL path segments. It is the code under
// test in examples/tests-in-a-function: its tests (slug_test.go, behind the
// build tag "lambdasuite") are compiled with `go test -c` and run inside a
// function.
package slug

import (
	"strings"
	"unicode"
)

// Make returns s lower-cased, with every run of characters other than
// ASCII letters and digits replaced by one '-', and no '-' at either end.
//
// It does not transliterate: "Crème brûlée" loses its accented letters.
// slug_test.go's TestMakeAccents documents that as a known failure.
func Make(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}
