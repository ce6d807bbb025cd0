package export

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/trust"
)

// Contents is what a file holds besides its records.
type Contents struct {
	Header        Header
	StatementText []byte
	Statement     *trust.Statement
	Signatures    []trust.Signature
	// Items are the inventory items, in order.
	Items []serverconf.Item
	// Records is the number of records.
	Records uint64
	// Index is the index of the records, as a store keeps it.
	Index *trust.Index
}

// reader decodes frames and keeps the position for error messages.
type reader struct {
	br      *bufio.Reader
	frames  uint64
	records uint64
	// root is the root of the records being read, rootRecords how many
	// of its records were read, path the last one's path.
	rootRecords uint64
	root        string
	path        string
	buf         []byte
}

func (r *reader) damaged(format string, args ...any) error {
	where := fmt.Sprintf("frame %d", r.frames)
	if r.records > 0 {
		where += fmt.Sprintf(", after %d records (the last: root %s, path %s)", r.records, trust.Quote(r.root), trust.Quote(r.path))
	}
	return fmt.Errorf("%w: %s: %s", ErrDamaged, where, fmt.Sprintf(format, args...))
}

func (r *reader) ioError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.damaged("truncated (the file ends before its end frame)")
	}
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || strings.HasPrefix(err.Error(), "flate:") {
		return r.damaged("compressed data is damaged: %v", err)
	}
	return fmt.Errorf("read export file: %w", err)
}

// next reads a frame; its payload is valid until the next call.
func (r *reader) next() (byte, []byte, error) {
	kind, err := r.br.ReadByte()
	if err != nil {
		return 0, nil, r.ioError(err)
	}
	n, err := binary.ReadUvarint(r.br)
	if err != nil {
		return 0, nil, r.ioError(err)
	}
	if n > maxFrame {
		return 0, nil, r.damaged("frame of %d bytes (over %d)", n, maxFrame)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		return 0, nil, r.ioError(err)
	}
	r.frames++
	return kind, r.buf, nil
}

// Read reads and checks a whole export file from in. onRecord, if not
// nil, gets every record in order as it is read, before the file is known
// to be intact: a caller that keeps them must be able to discard them
// (as a pending baseline is aborted) when Read fails. Read returns the
// contents once the digest of the records and items matches the
// statement and the end frame, and an error wrapping [ErrDamaged] that
// says what does not otherwise.
func Read(in io.Reader, onRecord func(*baseline.Record) error) (*Contents, error) {
	return read(in, nil, onRecord)
}

func read(in io.Reader, onStatement func(*trust.Statement) error, onRecord func(*baseline.Record) error) (*Contents, error) {
	gz, err := gzip.NewReader(in)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty file", ErrDamaged)
		}
		return nil, fmt.Errorf("%w: not a webfim export (not gzip-compressed: %v)", ErrDamaged, err)
	}
	defer gz.Close()
	gz.Multistream(false)
	r := &reader{br: bufio.NewReaderSize(gz, 64<<10)}
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(r.br, magic); err != nil || string(magic) != Magic {
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, r.ioError(err)
		}
		return nil, fmt.Errorf("%w: not a webfim baseline export (no %q line)", ErrDamaged, strings.TrimSpace(Magic))
	}
	c := &Contents{}
	kind, p, err := r.next()
	if err != nil {
		return nil, err
	}
	if kind != frameHeader {
		return nil, r.damaged("no header")
	}
	if err := json.Unmarshal(p, &c.Header); err != nil {
		return nil, r.damaged("header: %v", err)
	}
	if c.Header.Format != Format {
		return nil, r.damaged("header: format %q, not %q", c.Header.Format, Format)
	}
	if c.Header.Version != Version {
		return nil, fmt.Errorf("%w: export format version %d; this webfim reads version %d (upgrade webfim)", ErrDamaged, c.Header.Version, Version)
	}
	if kind, p, err = r.next(); err != nil {
		return nil, err
	}
	if kind != frameStatement {
		return nil, r.damaged("no statement")
	}
	c.StatementText = bytes.Clone(p)
	if c.Statement, err = trust.ParseStatement(c.StatementText); err != nil {
		return nil, r.damaged("%v", err)
	}
	if onStatement != nil {
		if err := onStatement(c.Statement); err != nil {
			return nil, err
		}
	}
	b := trust.NewBuilder()
	var end *endFrame
	var items uint64
	var state byte = frameSignature // the kind of the last frame
	order := map[byte]int{frameSignature: 0, frameItem: 1, frameRoot: 2, frameRecord: 2, frameEnd: 3}
	var rec baseline.Record
	for end == nil {
		kind, p, err := r.next()
		if err != nil {
			return nil, err
		}
		o, known := order[kind]
		if !known {
			return nil, r.damaged("unknown frame kind %q", kind)
		}
		if o < order[state] {
			return nil, r.damaged("%q frame out of order", kind)
		}
		state = kind
		switch kind {
		case frameSignature:
			var s trust.Signature
			if err := json.Unmarshal(p, &s); err != nil {
				return nil, r.damaged("signature: %v", err)
			}
			c.Signatures = append(c.Signatures, s)
		case frameItem:
			if len(p) == 0 || p[0] != 'I' {
				return nil, r.damaged("inventory item: bad leaf")
			}
			var it serverconf.Item
			if err := json.Unmarshal(p[1:], &it); err != nil {
				return nil, r.damaged("inventory item %d: %v", items+1, err)
			}
			b.AddItemJSON(p[1:])
			c.Items = append(c.Items, it)
			items++
		case frameRoot:
			root := string(p)
			if r.records > 0 && root <= r.root {
				return nil, r.damaged("root %s comes after %s, not in order", trust.Quote(root), trust.Quote(r.root))
			}
			if root == "" {
				return nil, r.damaged("empty root path")
			}
			r.root, r.path, r.rootRecords = root, "", 0
		case frameRecord:
			if r.root == "" {
				return nil, r.damaged("record before any root")
			}
			rec = baseline.Record{Root: r.root}
			if err := trust.ParseRecordLeaf(p, &rec); err != nil {
				return nil, r.damaged("record: %v", err)
			}
			if r.rootRecords > 0 && baseline.ComparePaths(r.path, rec.Path) >= 0 {
				return nil, r.damaged("path %s comes after %s, not in order", trust.Quote(rec.Path), trust.Quote(r.path))
			}
			if err := b.AddRecord(&rec); err != nil {
				return nil, r.damaged("%v", err)
			}
			r.records++
			r.rootRecords++
			r.path = rec.Path
			if onRecord != nil {
				if err := onRecord(&rec); err != nil {
					return nil, err
				}
			}
		case frameEnd:
			end = &endFrame{}
			if err := json.Unmarshal(p, end); err != nil {
				return nil, r.damaged("end frame: %v", err)
			}
		}
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		if err != nil {
			return nil, r.ioError(err)
		}
		return nil, r.damaged("data after the end frame")
	}
	if end.Records != r.records || end.Items != items || end.Signatures != uint64(len(c.Signatures)) {
		return nil, r.damaged("end frame counts %d records, %d items, %d signatures; the file holds %d, %d, %d",
			end.Records, end.Items, end.Signatures, r.records, items, len(c.Signatures))
	}
	// The metadata comes from the statement itself: only the content
	// (per-root trees and inventory) can differ.
	current, ix := b.Finish(*c.Statement)
	if mm := trust.Compare(c.Statement, &current); len(mm) > 0 {
		var msgs []string
		for _, m := range mm {
			msgs = append(msgs, m.Describe("recorded"))
		}
		return nil, fmt.Errorf("%w: the content does not match the file's digest: %s", ErrDamaged, strings.Join(msgs, "; "))
	}
	c.Records, c.Index = r.records, ix
	return c, nil
}

// Records reads the records of a file that [Read] checked, for a
// consumer that cannot stage them (a diff). The file is read and checked
// again: if it changed in between, the stream ends with an error instead
// of its last records.
func Records(open func() (io.ReadCloser, error)) baseline.State {
	return func(yield func(baseline.Record, error) bool) {
		f, err := open()
		if err != nil {
			yield(baseline.Record{}, err)
			return
		}
		defer f.Close()
		// Records are yielded from a goroutine-free pull: Read calls back
		// for each record; stopping early abandons the read.
		stop := errors.New("stop")
		_, err = Read(f, func(r *baseline.Record) error {
			if !yield(*r, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(baseline.Record{}, fmt.Errorf("export file changed or damaged while it was read: %w", err))
		}
	}
}

// ReadStatementFirst is [Read] that also calls onStatement with the
// file's statement before the first record is handed to onRecord, so
// that the caller can prepare where the records go.
func ReadStatementFirst(in io.Reader, onStatement func(*trust.Statement) error, onRecord func(*baseline.Record) error) (*Contents, error) {
	return read(in, onStatement, onRecord)
}
