package fsstore

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"hash/crc64"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestCRCCheckValues(t *testing.T) {
	// Check values of the CRC catalogue for the input "123456789".
	in := []byte("123456789")
	tests := []struct {
		algorithm string
		want      uint64
	}{
		{sluice.ChecksumCRC32, 0xcbf43926},
		{sluice.ChecksumCRC32C, 0xe3069283},
		{sluice.ChecksumCRC64NVME, 0xae8b14860a799888},
	}
	for _, tc := range tests {
		t.Run(tc.algorithm, func(t *testing.T) {
			h, err := newChecksumHash(tc.algorithm)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(in)
			sum := h.Sum(nil)
			var got uint64
			if len(sum) == 4 {
				got = uint64(binary.BigEndian.Uint32(sum))
			} else {
				got = binary.BigEndian.Uint64(sum)
			}
			if got != tc.want {
				t.Errorf("%s(123456789) = %#x, want %#x", tc.algorithm, got, tc.want)
			}
		})
	}
}

func TestCRCCombine(t *testing.T) {
	data := make([]byte, 70000)
	rand.Read(data)
	tables := []struct {
		name string
		poly uint64
		sum  func([]byte) uint64
	}{
		{"CRC32", uint64(crc32.IEEE), func(b []byte) uint64 { return uint64(crc32.ChecksumIEEE(b)) }},
		{"CRC32C", uint64(crc32.Castagnoli), func(b []byte) uint64 { return uint64(crc32.Checksum(b, crc32cTable)) }},
		{"CRC64NVME", crc64NVMEPoly, func(b []byte) uint64 { return crc64.Checksum(b, crc64NVMETable) }},
	}
	for _, tab := range tables {
		for _, split := range []int{0, 1, 7, 4096, 65535, len(data) - 1, len(data)} {
			a, b := data[:split], data[split:]
			got := crcCombine(tab.poly, tab.sum(a), tab.sum(b), int64(len(b)))
			if want := tab.sum(data); got != want {
				t.Errorf("%s split at %d: combined %#x, want %#x", tab.name, split, got, want)
			}
		}
	}
}

func TestFullObjectCRC(t *testing.T) {
	parts := [][]byte{make([]byte, 1000), make([]byte, 1), make([]byte, 333)}
	for _, p := range parts {
		rand.Read(p)
	}
	var whole []byte
	var values []string
	var sizes []int64
	for _, p := range parts {
		whole = append(whole, p...)
		values = append(values, base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(p, crc32cTable))))
		sizes = append(sizes, int64(len(p)))
	}
	got, err := fullObjectCRC(sluice.ChecksumCRC32C, values, sizes)
	if err != nil {
		t.Fatal(err)
	}
	want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(whole, crc32cTable)))
	if got != want {
		t.Errorf("fullObjectCRC = %s, want %s", got, want)
	}
}
