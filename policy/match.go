package policy

// wildcardMatch reports whether s matches pattern, where '*' matches any run
// of characters (including none) and '?' exactly one byte. With fold, ASCII
// letters compare case-insensitively (IAM action names). It runs in
// O(len(pattern)*len(s)) worst case without allocating: a single backtrack
// point suffices because a later '*' subsumes every earlier one.
func wildcardMatch(pattern, s string, fold bool) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; {
			case c == '*':
				starP, starI = p, i
				p++
				continue
			case c == '?' || byteEq(c, s[i], fold):
				p++
				i++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func byteEq(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	return lower(a) == lower(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
