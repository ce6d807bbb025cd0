package baseline

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"webfim/indicators"
)

// BenchmarkDigest measures the digests webfim records on one core, by
// input size: the floor of a hashing walk (docs/benchmarks.md). Small
// inputs cannot use BLAKE3's SIMD paths, which hash several 1 KiB chunks
// at once.
func BenchmarkDigest(b *testing.B) {
	for _, n := range []int{512, 1 << 10, 4 << 10, 8 << 10, 64 << 10, 256 << 10} {
		buf := make([]byte, n)
		b.Run(fmt.Sprintf("blake3/%d", n), func(b *testing.B) {
			h := blake3.New()
			b.SetBytes(int64(n))
			for range b.N {
				h.Reset()
				h.Write(buf)
				h.Sum(nil)
			}
		})
		b.Run(fmt.Sprintf("sha256/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for range b.N {
				sha256.Sum256(buf)
			}
		})
	}
}

// BenchmarkSniffFirstChunk is what sniffing adds to hashing a file: the
// family of its first chunk, against the BLAKE3 of the same chunk (the
// hash pass computes both from one read). Inputs: a PHP file (decided at
// the first bytes), 8 KiB of HTML with many tags and 8 KiB of text with
// none (the worst and the best case of the scan).
func BenchmarkSniffFirstChunk(b *testing.B) {
	inputs := map[string][]byte{
		"php":  []byte("<?php\n" + strings.Repeat("echo $x;\n", 900)),
		"html": []byte(strings.Repeat("<div class=\"a\"><span>text</span></div>\n", 200)),
		"text": bytes.Repeat([]byte("plain text without tags, "), 330),
	}
	for _, name := range []string{"php", "html", "text"} {
		in := inputs[name][:min(len(inputs[name]), indicators.SniffLen)]
		b.Run("sniff/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				indicators.Sniff(in)
			}
		})
		b.Run("blake3/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				blake3.Sum256(in)
			}
		})
	}
}
