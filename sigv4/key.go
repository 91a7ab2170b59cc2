package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"sync"
)

// maxCachedKeys bounds the signing-key cache. Keys change daily per
// (secret, region, service), so a handful of entries covers real use.
const maxCachedKeys = 256

type scopeKey struct {
	secret, date, region, service string
}

// keyCache memoises signing-key derivation, four HMACs that every request
// would otherwise pay.
type keyCache struct {
	mu sync.Mutex
	m  map[scopeKey]*signingKey
}

// signingKey is a derived key with a pool of HMAC states keyed with it, so
// that checking a signature allocates nothing.
type signingKey struct {
	key   []byte
	state sync.Pool // *macState
}

// macState is one HMAC keyed with a signingKey and the buffers a
// signature check fills; it belongs to one request at a time.
type macState struct {
	mac   hash.Hash
	canon []byte // the canonical request
	sts   []byte // the string to sign
	sum   []byte
}

func (k *signingKey) get() *macState {
	if st, ok := k.state.Get().(*macState); ok {
		return st
	}
	return &macState{mac: hmac.New(sha256.New, k.key), canon: make([]byte, 0, 512), sts: make([]byte, 0, 128)}
}

// maxPooledCanon keeps a request with huge headers from pinning its
// buffer in the pool.
const maxPooledCanon = 16 << 10

func (k *signingKey) put(st *macState) {
	if cap(st.canon) > maxPooledCanon {
		return
	}
	k.state.Put(st)
}

// sign returns the signature of the string to sign for a canonical
// request whose SHA-256 is crHash. The result is valid until st is used
// again.
func (st *macState) sign(amzDate string, c credential, crHash *[sha256.Size]byte) []byte {
	b := append(st.sts[:0], algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = c.appendScope(b)
	b = append(b, '\n')
	b = hex.AppendEncode(b, crHash[:])
	st.sts = b
	st.mac.Reset()
	st.mac.Write(b)
	st.sum = st.mac.Sum(st.sum[:0])
	return st.sum
}

func (c *keyCache) get(secret string, cred credential) *signingKey {
	k := scopeKey{secret, cred.date, cred.region, cred.service}
	c.mu.Lock()
	key, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = &signingKey{key: deriveKey(secret, cred.date, cred.region, cred.service)}
	c.mu.Lock()
	if len(c.m) >= maxCachedKeys {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = key
	c.mu.Unlock()
	return key
}

func deriveKey(secret, date, region, service string) []byte {
	k := hmacBytes([]byte("AWS4"+secret), date)
	k = hmacBytes(k, region)
	k = hmacBytes(k, service)
	return hmacBytes(k, "aws4_request")
}

func hmacBytes(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, data)
	return m.Sum(nil)
}
