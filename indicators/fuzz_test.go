package indicators

import (
	"path/filepath"
	"testing"
)

// FuzzScan checks, on any content and any chunking, that the engine does
// not panic, that streaming gives the result of a whole scan, and that
// results are consistent (score, level, printable excerpts, lines).
func FuzzScan(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/*.txtar")
	for _, p := range paths {
		for _, s := range loadArchive(f, p) {
			f.Add(s.name, s.data, uint8(7))
		}
	}
	f.Add("x.php", []byte("<?php $$a(`${x}`)?><?= <<<'E'\nE;"), uint8(1))
	e, err := New(Settings{MaxBytes: SniffLen, TailBytes: 1024})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte, chunk uint8) {
		whole := e.Scan(name, data)
		got := scanChunks(e, name, data, []int{int(chunk) + 1})
		if !sameResult(whole, got) {
			t.Fatalf("chunked %+v != whole %+v", got, whole)
		}
		sum := 0
		for _, m := range whole.Matches {
			sum += m.Weight
			if m.Line < 1 || m.Count < 1 {
				t.Fatalf("bad match %+v", m)
			}
			for _, c := range []byte(m.Excerpt) {
				if c < 0x20 || c > 0x7e {
					t.Fatalf("excerpt %q not printable", m.Excerpt)
				}
			}
		}
		if sum != whole.Score || whole.Level != e.Thresholds().Level(sum) {
			t.Fatalf("score %d level %s, matches sum %d", whole.Score, whole.Level, sum)
		}
	})
}
