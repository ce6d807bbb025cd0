package indicators

import (
	"encoding/binary"
	"math/bits"
)

// Byte classes, as tables: the scanners test them in their inner loops.
const (
	clsIdent  = 1 << iota // [A-Za-z0-9_]
	clsLetter             // [A-Za-z_]
	clsSpace              // space, tab, CR, LF, VT, FF
	clsB64                // [A-Za-z0-9+/=_-] (base64 and base64url)
	clsHex                // [0-9A-Fa-f]
)

var classes = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		letter := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
		digit := b >= '0' && b <= '9'
		if letter || digit || b == '_' {
			t[c] |= clsIdent
		}
		if letter || b == '_' {
			t[c] |= clsLetter
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == '\v' || b == '\f' {
			t[c] |= clsSpace
		}
		if letter || digit || b == '+' || b == '/' || b == '=' || b == '_' || b == '-' {
			t[c] |= clsB64
		}
		if digit || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' {
			t[c] |= clsHex
		}
	}
	return t
}()

func isIdent(c byte) bool      { return classes[c]&clsIdent != 0 }
func isIdentStart(c byte) bool { return classes[c]&clsLetter != 0 }
func isLetter(c byte) bool     { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isSpace(c byte) bool      { return classes[c]&clsSpace != 0 }
func isHex(c byte) bool        { return classes[c]&clsHex != 0 }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// toLowerASCII writes the ASCII lower case of src into dst (same length),
// eight bytes at a time: the token scanners search the lowered copy.
func toLowerASCII(dst, src []byte) {
	dst = dst[:len(src)]
	i := 0
	for ; i+8 <= len(src); i += 8 {
		w := binary.LittleEndian.Uint64(src[i:])
		// Set bit 5 of every byte in 'A'..'Z' (SWAR range test; bytes
		// with the high bit set are left alone).
		const ones = 0x0101010101010101
		const high = 0x8080808080808080
		heptets := w &^ high
		geA := heptets + (0x80-'A')*ones
		gtZ := heptets + (0x80-'Z'-1)*ones
		isUpper := (geA &^ gtZ) & high &^ w
		w |= isUpper >> 2
		binary.LittleEndian.PutUint64(dst[i:], w)
	}
	for ; i < len(src); i++ {
		dst[i] = lower(src[i])
	}
}

// identStart returns the start of the run of identifier bytes that ends
// at b[k], going back no further than lo (lo <= k+1). It tests eight
// bytes at a time: the engine asks it at every '(' of a PHP file.
func identStart(b []byte, k, lo int) int {
	e := k + 1
	for e-8 >= lo {
		if m := nonIdentBytes(binary.LittleEndian.Uint64(b[e-8 : e])); m != 0 {
			// The highest flagged byte is the last non-identifier one.
			return e - bits.LeadingZeros64(m)/8
		}
		e -= 8
	}
	for e > lo && isIdent(b[e-1]) {
		e--
	}
	return e
}

// nonIdentBytes returns the high bit of each byte of w that is not an
// identifier byte ([A-Za-z0-9_]), the others clear (SWAR range tests on
// the low seven bits, without carries between bytes).
func nonIdentBytes(w uint64) uint64 {
	const ones = 0x0101010101010101
	const highs = 0x8080808080808080
	h := w &^ highs
	l := h | 0x20*ones // letters folded to lower case
	letter := (l + (0x80-'a')*ones) &^ (l + (0x80-'z'-1)*ones)
	digit := (h + (0x80-'0')*ones) &^ (h + (0x80-'9'-1)*ones)
	u := h ^ '_'*ones
	underscore := ^(u + 0x7f*ones | u)
	return ^(letter|digit|underscore)&highs | w&highs
}
