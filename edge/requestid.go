package edge

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
)

// newRequestID returns an X-Amz-Cf-Id: 40 random bytes in URL-safe base64,
// CloudFront's shape. The id names a request in logs and error pages and is
// no secret, so it comes from math/rand/v2's per-thread ChaCha8 generator,
// seeded by the runtime from the system's entropy: no lock, no system
// call, and 320 bits make collisions a non-issue.
func newRequestID() string {
	var raw [40]byte
	for i := 0; i < len(raw); i += 8 {
		binary.LittleEndian.PutUint64(raw[i:], rand.Uint64())
	}
	var out [56]byte // base64.URLEncoding.EncodedLen(40)
	base64.URLEncoding.Encode(out[:], raw[:])
	return string(out[:])
}
