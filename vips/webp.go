package vips

import "encoding/binary"

// VP8X flag bits for the chunks stripWebP removes.
const (
	vp8xICC  = 0x20
	vp8xEXIF = 0x08
	vp8xXMP  = 0x04
)

// stripWebP copies a WebP file without its EXIF, XMP and ICCP chunks and
// with the VP8X flags that announce them cleared. libvips 8.14's webpsave
// writes a generated EXIF block even when told to strip. Input that is not
// a well-formed RIFF WebP is copied unchanged.
func stripWebP(src []byte) []byte {
	out := make([]byte, 0, len(src))
	if len(src) < 12 || string(src[0:4]) != "RIFF" || string(src[8:12]) != "WEBP" {
		return append(out, src...)
	}
	riffEnd := 8 + int64(binary.LittleEndian.Uint32(src[4:8]))
	if riffEnd > int64(len(src)) {
		return append(out, src...)
	}
	out = append(out, src[:12]...)
	vp8x := -1 // offset of the VP8X payload in out
	for off := int64(12); off < riffEnd; {
		if riffEnd-off < 8 {
			return append(out[:0], src...)
		}
		fourcc := string(src[off : off+4])
		size := int64(binary.LittleEndian.Uint32(src[off+4 : off+8]))
		end := off + 8 + size + size&1
		if end > riffEnd {
			// The last chunk's padding byte is sometimes missing.
			if off+8+size != riffEnd {
				return append(out[:0], src...)
			}
			end = riffEnd
		}
		switch fourcc {
		case "EXIF", "XMP ", "ICCP":
		default:
			if fourcc == "VP8X" && size >= 1 {
				vp8x = len(out) + 8
			}
			out = append(out, src[off:end]...)
		}
		off = end
	}
	if vp8x >= 0 {
		out[vp8x] &^= vp8xICC | vp8xEXIF | vp8xXMP
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out
}
