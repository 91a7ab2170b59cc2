package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
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
	m  map[scopeKey][]byte
}

func (c *keyCache) get(secret string, cred credential) []byte {
	k := scopeKey{secret, cred.date, cred.region, cred.service}
	c.mu.Lock()
	key, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = deriveKey(secret, cred.date, cred.region, cred.service)
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
