package edge

import "strings"

// matchPattern reports whether path matches a CloudFront cache behaviour
// PathPattern: '*' matches any run of characters including '/', '?' exactly
// one character, everything else itself, case-sensitively. A pattern
// without a leading '/' matches as if it had one, as CloudFront accepts both
// "images/*.jpg" and "/images/*.jpg".
//
// The matcher is the classic greedy wildcard walk with one backtrack point,
// linear in len(pattern)*len(path) at worst and allocation-free, because it
// runs on every request.
func matchPattern(pattern, path string) bool {
	if !strings.HasPrefix(pattern, "/") && !strings.HasPrefix(pattern, "*") {
		pattern = "/" + pattern
	}
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == path[s]):
			if pattern[p] == '?' {
				// '?' is one character, not one byte: skip a whole UTF-8
				// sequence so "?" matches "é".
				s = min(s+utf8Len(path[s]), len(path))
			} else {
				s++
			}
			p++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// utf8Len is the length of the UTF-8 sequence that starts with b, clamped to
// at least 1 so that invalid bytes still advance.
func utf8Len(b byte) int {
	switch {
	case b < 0xC0:
		return 1
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	default:
		return 4
	}
}
