package trust

import (
	"encoding/binary"
	"errors"
	"fmt"

	"webfim/merkle"
)

// Index chunking: the records of a root are cut into chunks of
// ChunkRecords records (the last may be shorter); each chunk is a complete
// subtree of the root's Merkle tree.
const (
	chunkHeight  = 6
	ChunkRecords = 1 << chunkHeight
	// HintSize is the size of a record's hint: the first bytes of its
	// leaf hash.
	HintSize = 8
)

// Index locates differences inside a root without a copy of the signed
// records. The chunk hashes are authenticated by the signed Merkle root
// (they rebuild it); the hints are not, so a record named by a hint is
// named "according to the index", and the chunk it lies in is certain.
type Index struct {
	// Roots holds the chunks of each root's records, in order.
	Roots map[string][]Chunk
}

// Chunk is a run of up to [ChunkRecords] consecutive records of a root.
type Chunk struct {
	Hash  merkle.Hash
	Hints []byte // HintSize bytes per record
}

// Records returns the number of records of the chunk.
func (c Chunk) Records() int { return len(c.Hints) / HintSize }

// MarshalBinary returns the chunk as stored: its hash, then the hints.
func (c Chunk) MarshalBinary() ([]byte, error) {
	return append(append(make([]byte, 0, merkle.Size+len(c.Hints)), c.Hash[:]...), c.Hints...), nil
}

// ParseChunk reads a chunk written by [Chunk.MarshalBinary].
func ParseChunk(data []byte) (Chunk, error) {
	n := len(data) - merkle.Size
	if n < HintSize || n%HintSize != 0 || n/HintSize > ChunkRecords {
		return Chunk{}, fmt.Errorf("damaged index chunk (%d bytes)", len(data))
	}
	var c Chunk
	copy(c.Hash[:], data)
	c.Hints = append([]byte(nil), data[merkle.Size:]...)
	return c, nil
}

// FindingKind says how a record differs from the signed baseline.
type FindingKind int

const (
	// RecordChanged: the record at Position differs from the signed one.
	RecordChanged FindingKind = iota
	// RecordAdded: the record at Position is not in the signed baseline.
	RecordAdded
	// RecordRemoved: a signed record is missing before Position (between
	// the records at Position-1 and Position).
	RecordRemoved
)

// Finding is one record located by [Locate]; positions count the records
// of the root as they are now, from 0.
type Finding struct {
	Kind     FindingKind
	Position uint64
}

// Range is a run of records, positions [From, To), that differs from the
// signed baseline although the hints do not say which of them.
type Range struct{ From, To uint64 }

// Location is where the records of a root differ from the signed ones.
type Location struct {
	// IndexAltered: the stored index does not rebuild the signed root, so
	// it cannot name anything (it was altered or lost along with the
	// records).
	IndexAltered bool
	Findings     []Finding
	Ranges       []Range
	// Truncated: more differences than the findings kept.
	Truncated bool
}

// maxFindings bounds what [Locate] reports.
const maxFindings = 1000

// errIndex says why a stored index does not match.
var errIndex = errors.New("index does not match")

// authenticate checks that stored rebuilds the signed tree head.
func authenticate(signed TreeHead, stored []Chunk) error {
	var n uint64
	hashes := make([]merkle.Hash, len(stored))
	for i, c := range stored {
		if c.Records() == 0 || (i < len(stored)-1 && c.Records() != ChunkRecords) {
			return errIndex
		}
		n += uint64(c.Records())
		hashes[i] = c.Hash
	}
	if n != signed.Leaves {
		return errIndex
	}
	if len(hashes) == 0 {
		if signed.Root != merkle.EmptyRoot {
			return errIndex
		}
		return nil
	}
	root, err := merkle.RootOfChunks(hashes)
	if err != nil || root != signed.Root {
		return errIndex
	}
	return nil
}

// Locate compares the chunks of a root as recomputed now (current) with
// the stored index of the signed baseline (stored) and says which records
// differ. signed is the root's head in the signed statement.
func Locate(signed TreeHead, stored, current []Chunk) Location {
	var loc Location
	if authenticate(signed, stored) != nil {
		loc.IndexAltered = true
		return loc
	}
	sh, ch := hints(stored), hints(current)
	if len(sh) == len(ch) {
		// Same count: compare chunk by chunk.
		for i := range stored {
			if i < len(current) && stored[i].Hash == current[i].Hash {
				continue
			}
			base := uint64(i * ChunkRecords)
			found := false
			for j := base; j < base+uint64(stored[i].Records()) && j < uint64(len(ch)); j++ {
				if sh[j] != ch[j] {
					found = true
					if !loc.add(Finding{RecordChanged, j}) {
						return loc
					}
				}
			}
			if !found {
				loc.Ranges = append(loc.Ranges, Range{base, base + uint64(stored[i].Records())})
			}
		}
		return loc
	}
	// Records were added or removed: align the hints, looking a few
	// records ahead for the run that was inserted or dropped.
	const lookahead = 16
	i, j := 0, 0
	for i < len(sh) || j < len(ch) {
		switch {
		case i < len(sh) && j < len(ch) && sh[i] == ch[j]:
			i++
			j++
			continue
		case i >= len(sh):
			if !loc.add(Finding{RecordAdded, uint64(j)}) {
				return loc
			}
			j++
			continue
		case j >= len(ch):
			if !loc.add(Finding{RecordRemoved, uint64(j)}) {
				return loc
			}
			i++
			continue
		}
		step := false
		for d := 1; d <= lookahead && !step; d++ {
			if i+d < len(sh) && sh[i+d] == ch[j] {
				for range d {
					if !loc.add(Finding{RecordRemoved, uint64(j)}) {
						return loc
					}
				}
				i += d
				step = true
			} else if j+d < len(ch) && sh[i] == ch[j+d] {
				for k := range d {
					if !loc.add(Finding{RecordAdded, uint64(j + k)}) {
						return loc
					}
				}
				j += d
				step = true
			}
		}
		if !step {
			if !loc.add(Finding{RecordChanged, uint64(j)}) {
				return loc
			}
			i++
			j++
		}
	}
	if len(loc.Findings) == 0 {
		loc.Ranges = append(loc.Ranges, Range{0, uint64(len(ch))})
	}
	return loc
}

func (l *Location) add(f Finding) bool {
	if len(l.Findings) >= maxFindings {
		l.Truncated = true
		return false
	}
	l.Findings = append(l.Findings, f)
	return true
}

func hints(chunks []Chunk) []uint64 {
	var out []uint64
	for _, c := range chunks {
		for i := 0; i+HintSize <= len(c.Hints); i += HintSize {
			out = append(out, binary.BigEndian.Uint64(c.Hints[i:]))
		}
	}
	return out
}
