package vips

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Test images are made here with Go's encoders so that every test says
// exactly what its input is.

// photo draws a w x h picture with structure in it (gradients and a grid) so
// encoders and resamplers have real work to do.
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), 128, 255}
			if x%16 == 0 || y%16 == 0 {
				c = color.RGBA{20, 20, 20, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, photo(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, w, h int, alpha bool) []byte {
	t.Helper()
	img := photo(w, h)
	if alpha {
		// Transparent left half: the alpha band survives into the output.
		for y := range h {
			for x := range w / 2 {
				img.SetRGBA(x, y, color.RGBA{})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// frameColors are the solid colours of the frames of animatedGIF, in order.
var frameColors = []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}}

func animatedGIF(t testing.TB, w, h int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for _, c := range frameColors {
		frame := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		idx := uint8(frame.Palette.Index(c))
		for i := range frame.Pix {
			frame.Pix[i] = idx
		}
		g.Image = append(g.Image, frame)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation inserts an APP1 EXIF segment holding only an Orientation
// tag right after the SOI marker of a JPEG.
func withOrientation(t testing.TB, src []byte, orientation uint16) []byte {
	t.Helper()
	if len(src) < 2 || src[0] != 0xFF || src[1] != 0xD8 {
		t.Fatal("not a JPEG")
	}
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2A")                        // big-endian TIFF
	binary.Write(&tiff, binary.BigEndian, uint32(8))      // IFD0 offset
	binary.Write(&tiff, binary.BigEndian, uint16(1))      // one entry
	binary.Write(&tiff, binary.BigEndian, uint16(0x0112)) // Orientation
	binary.Write(&tiff, binary.BigEndian, uint16(3))      // SHORT
	binary.Write(&tiff, binary.BigEndian, uint32(1))      // count
	binary.Write(&tiff, binary.BigEndian, orientation)    // value
	binary.Write(&tiff, binary.BigEndian, uint16(0))      // padding to 4 bytes
	binary.Write(&tiff, binary.BigEndian, uint32(0))      // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{0xFF, 0xD8}, seg...)
	return append(out, src[2:]...)
}

// pngBomb is a small valid PNG whose IHDR claims w x h, with a correct CRC:
// decoding it would allocate w*h*4 bytes.
func pngBomb(t testing.TB, w, h uint32) []byte {
	t.Helper()
	b := encodePNG(t, 16, 16, false)
	// 8-byte signature, then IHDR: length(4) type(4) width(4) height(4) ...
	if string(b[12:16]) != "IHDR" {
		t.Fatal("IHDR is not the first chunk")
	}
	binary.BigEndian.PutUint32(b[16:20], w)
	binary.BigEndian.PutUint32(b[20:24], h)
	binary.BigEndian.PutUint32(b[29:33], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// gradient is w x h with red rising from 0 at the left to 255 at the right,
// so a crop shows where it was taken from.
func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / max(w-1, 1)), 0, 0, 255})
		}
	}
	return img
}

func encodeGradientPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// uncompressedTIFF writes a baseline RGB TIFF by hand (the standard library
// has no TIFF encoder).
func uncompressedTIFF(w, h int) []byte {
	type entry struct {
		tag, typ uint16
		count    uint32
		value    uint32
	}
	const short, long = 3, 4
	const ifdOffset = 8
	const nEntries = 9
	bitsOffset := uint32(ifdOffset + 2 + nEntries*12 + 4)
	dataOffset := bitsOffset + 6
	entries := []entry{
		{256, long, 1, uint32(w)},
		{257, long, 1, uint32(h)},
		{258, short, 3, bitsOffset},
		{259, short, 1, 1}, // no compression
		{262, short, 1, 2}, // RGB
		{273, long, 1, dataOffset},
		{277, short, 1, 3},
		{278, long, 1, uint32(h)},
		{279, long, 1, uint32(w * h * 3)},
	}
	var b bytes.Buffer
	b.WriteString("II*\x00")
	binary.Write(&b, binary.LittleEndian, uint32(ifdOffset))
	binary.Write(&b, binary.LittleEndian, uint16(len(entries)))
	for _, e := range entries {
		binary.Write(&b, binary.LittleEndian, e.tag)
		binary.Write(&b, binary.LittleEndian, e.typ)
		binary.Write(&b, binary.LittleEndian, e.count)
		if e.typ == short && e.count == 1 {
			binary.Write(&b, binary.LittleEndian, uint16(e.value))
			binary.Write(&b, binary.LittleEndian, uint16(0))
		} else {
			binary.Write(&b, binary.LittleEndian, e.value)
		}
	}
	binary.Write(&b, binary.LittleEndian, uint32(0))
	binary.Write(&b, binary.LittleEndian, [3]uint16{8, 8, 8})
	img := photo(w, h)
	for y := range h {
		for x := range w {
			c := img.RGBAAt(x, y)
			b.Write([]byte{c.R, c.G, c.B})
		}
	}
	return b.Bytes()
}

// encodeVariant writes the less common pixel layouts decoders meet:
// greyscale (JPEG, or PNG for "gray png"), 16-bit with alpha and palette
// with a transparent entry.
func encodeVariant(t testing.TB, kind string, w, h int) []byte {
	t.Helper()
	src := photo(w, h)
	var img image.Image
	switch kind {
	case "gray", "gray png":
		g := image.NewGray(src.Bounds())
		for y := range h {
			for x := range w {
				g.Set(x, y, src.At(x, y))
			}
		}
		img = g
	case "rgba64":
		c := image.NewNRGBA64(src.Bounds())
		for y := range h {
			for x := range w {
				r, g, b, _ := src.At(x, y).RGBA()
				c.SetNRGBA64(x, y, color.NRGBA64{uint16(r), uint16(g), uint16(b), uint16(x * 0xffff / max(w-1, 1))})
			}
		}
		img = c
	case "paletted":
		pal := color.Palette{color.RGBA{}, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
		p := image.NewPaletted(src.Bounds(), pal)
		for y := range h {
			for x := range w {
				p.SetColorIndex(x, y, uint8((x/8+y/8)%3))
			}
		}
		img = p
	default:
		t.Fatalf("unknown variant %q", kind)
	}
	var b bytes.Buffer
	var err error
	if kind == "gray" {
		err = jpeg.Encode(&b, img, nil)
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
