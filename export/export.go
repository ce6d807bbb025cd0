// Package export writes and reads baseline export files: one baseline
// (records, server configuration inventory, metadata, digest and
// signatures) in a self-describing, versioned, compressed file that can be
// kept off the server, verified anywhere and compared with a live tree or
// a mounted image.
//
// A file is a gzip stream (RFC 1952) of:
//
//	the line "webfim-baseline-export\n"
//	frames, each: one kind byte, a uvarint length, that many payload bytes
//	  'H' header: JSON {"format":"webfim-baseline-export","version":1,...}
//	  'S' the baseline's statement (package trust), once
//	  'G' a signature: JSON {"statement":base64,"signature":base64}, any number
//	  'I' an inventory item's leaf data ('I' and the item's JSON), in order
//	  'T' the path of the web root whose records follow
//	  'R' a record's leaf data ([trust.AppendRecordLeaf]), in key order
//	  'E' end: JSON {"records":N,"items":N,"signatures":N}
//	nothing after the end frame
//
// in that order (H, S, G*, I*, then T R* per root in byte order, E). The
// records and items are the leaves of the digest: a reader recomputes it
// and compares it with the statement, so a damaged, truncated or altered
// file is an error that says what does not match, never a partial result:
// [Read] hands records to its caller as they are read (to be staged, as a
// pending baseline is) and fails at the end if anything is wrong;
// [Records] is for a file already checked with [Read].
package export

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/trust"
)

// Magic is the first line of the uncompressed stream.
const Magic = "webfim-baseline-export\n"

// Format and Version identify the layout in the header.
const (
	Format  = "webfim-baseline-export"
	Version = 1
)

// Frame kinds.
const (
	frameHeader    = 'H'
	frameStatement = 'S'
	frameSignature = 'G'
	frameItem      = 'I'
	frameRoot      = 'T'
	frameRecord    = 'R'
	frameEnd       = 'E'
)

// maxFrame bounds a frame's payload: a statement or a record is far
// smaller; a damaged length must not make a reader allocate gigabytes.
const maxFrame = 16 << 20

// ErrDamaged is wrapped by every error about the content of a file.
var ErrDamaged = errors.New("damaged export file")

// Header describes an export. The baseline's metadata is in its
// statement; the header says what wrote the file and when.
type Header struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	Exported   time.Time `json:"exported"`
	ExportedBy string    `json:"exported_by"` // "webfim VERSION"
	// BaselineID is the id of the baseline in the database it was
	// exported from; DurationNS how long taking it took.
	BaselineID uint64 `json:"baseline_id"`
	DurationNS int64  `json:"duration_ns,omitempty"`
}

type endFrame struct {
	Records    uint64 `json:"records"`
	Items      uint64 `json:"items"`
	Signatures uint64 `json:"signatures"`
}

// Writer writes an export file. Items must be written before records;
// records root by root, in [baseline.State] order.
type Writer struct {
	gz      *gzip.Writer
	bw      *bufio.Writer
	end     endFrame
	root    string
	started bool // a record was written
	buf     []byte
	err     error
}

// NewWriter starts an export of the baseline described by statement,
// with its signatures, on w.
func NewWriter(w io.Writer, h Header, statement []byte, sigs []trust.Signature) (*Writer, error) {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	gz.Name = "webfim-baseline"
	ew := &Writer{gz: gz, bw: bufio.NewWriterSize(gz, 64<<10)}
	ew.bw.WriteString(Magic)
	h.Format, h.Version = Format, Version
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	ew.frame(frameHeader, hj)
	ew.frame(frameStatement, statement)
	for _, s := range sigs {
		sj, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		ew.frame(frameSignature, sj)
		ew.end.Signatures++
	}
	return ew, ew.err
}

func (w *Writer) frame(kind byte, payload []byte) {
	if w.err != nil {
		return
	}
	if len(payload) > maxFrame {
		w.err = fmt.Errorf("export: a %c frame of %d bytes is over the limit", kind, len(payload))
		return
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = kind
	n := binary.PutUvarint(hdr[1:], uint64(len(payload)))
	if _, err := w.bw.Write(hdr[:1+n]); err != nil {
		w.err = err
		return
	}
	if _, err := w.bw.Write(payload); err != nil {
		w.err = err
	}
}

// Item writes an inventory item.
func (w *Writer) Item(it *serverconf.Item) error {
	if w.started {
		return errors.New("export: inventory items after records")
	}
	j, err := json.Marshal(it)
	if err != nil {
		return err
	}
	w.buf = trust.AppendItemLeaf(w.buf[:0], j)
	w.frame(frameItem, w.buf)
	w.end.Items++
	return w.err
}

// Record writes a record.
func (w *Writer) Record(r *baseline.Record) error {
	if !w.started || r.Root != w.root {
		w.frame(frameRoot, []byte(r.Root))
		w.root, w.started = r.Root, true
	}
	w.buf = trust.AppendRecordLeaf(w.buf[:0], r)
	w.frame(frameRecord, w.buf)
	w.end.Records++
	return w.err
}

// Close writes the end frame and finishes the gzip stream; it does not
// close the underlying writer.
func (w *Writer) Close() error {
	ej, _ := json.Marshal(w.end)
	w.frame(frameEnd, ej)
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.gz.Close()
}
