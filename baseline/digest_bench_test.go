package baseline

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/zeebo/blake3"
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
