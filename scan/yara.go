package scan

import (
	"context"
	"errors"
	"path/filepath"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/indicators/yara"
)

// The YARA rules of a target (Target.YARA) run on the files whose content
// the hashing pass scanned (Record.Indicators set), a batch of files per
// yara process. What comes out of a comparison is held back from the
// first such file until its batch has been scanned, then passed on in
// order, with the rule matches added to the indicators.

const (
	// yaraBatchFiles is how many scanned files one yara process gets.
	yaraBatchFiles = 256
	// yaraBatchHeld bounds the items held back while a batch fills.
	yaraBatchHeld = 4096
)

// yaraBatch holds items (changes, records) until YARA has looked at the
// files of those that were scanned.
type yaraBatch[T any] struct {
	ctx        context.Context
	rules      *yara.Rules
	thresholds indicators.Thresholds
	// subject is the file of an item and its indicators (nil: not scanned).
	subject func(*T) (path string, res *indicators.Result)
	emit    func(T) error
	onError func(err error)
	held    []T
	files   int
}

// newYARABatch returns a batch passing items on to emit, or nil when t
// has no YARA rules (see [yaraBatch.add] and [yaraBatch.flush]).
func newYARABatch[T any](ctx context.Context, t Target, opt Options, subject func(*T) (string, *indicators.Result), emit func(T) error) *yaraBatch[T] {
	if t.YARA == nil || t.Indicators == nil {
		return nil
	}
	return &yaraBatch[T]{ctx: ctx, rules: t.YARA, thresholds: t.Indicators.Thresholds(), subject: subject, emit: emit, onError: opt.OnContentError}
}

// add passes x on, or holds it until its batch is scanned.
func (b *yaraBatch[T]) add(x T) error {
	_, res := b.subject(&x)
	if res == nil && len(b.held) == 0 {
		return b.emit(x)
	}
	b.held = append(b.held, x)
	if res != nil {
		b.files++
	}
	if b.files >= yaraBatchFiles || len(b.held) >= yaraBatchHeld {
		return b.flush()
	}
	return nil
}

// flush scans the files held, adds the matches to their indicators and
// passes everything held on. A file yara could not scan, or a batch that
// failed (timeout), says so in its indicators' Errors and to onError;
// the items are passed on all the same.
func (b *yaraBatch[T]) flush() error {
	if b == nil || len(b.held) == 0 {
		return nil
	}
	held := b.held
	b.held, b.files = nil, 0
	var paths []string
	for i := range held {
		if p, res := b.subject(&held[i]); res != nil {
			paths = append(paths, p)
		}
	}
	matches, err := b.rules.ScanFiles(b.ctx, paths)
	fileErrs := map[string]string{}
	var batchErr error
	for _, e := range unjoin(err) {
		var se *yara.ScanError
		if errors.As(e, &se) {
			fileErrs[se.Path] = se.Error()
			continue
		}
		batchErr = errors.Join(batchErr, e)
	}
	if batchErr != nil && b.onError != nil && b.ctx.Err() == nil {
		b.onError(batchErr)
	}
	for i := range held {
		p, res := b.subject(&held[i])
		if res == nil {
			continue
		}
		for _, m := range matches[p] {
			res.Add(indicators.YARAMatch(m, b.rules.Weight()), b.thresholds)
		}
		if msg, ok := fileErrs[p]; ok {
			res.Errors = append(res.Errors, msg)
		} else if batchErr != nil {
			res.Errors = append(res.Errors, batchErr.Error())
		}
	}
	for _, x := range held {
		if err := b.emit(x); err != nil {
			return err
		}
	}
	return nil
}

// unjoin lists the errors joined in err.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// changeSubject is the file of a change whose new content was scanned.
func changeSubject(ch *baseline.Change) (string, *indicators.Result) {
	if ch.New == nil || ch.New.Indicators == nil || ch.Kind == baseline.Removed {
		return "", nil
	}
	return displayJoin(ch.Root, ch.Path), ch.New.Indicators
}

// recordSubject is the file of a record whose content was scanned.
func recordSubject(r *baseline.Record) (string, *indicators.Result) {
	if r.Indicators == nil {
		return "", nil
	}
	return filepath.Join(r.Root, filepath.FromSlash(r.Path)), r.Indicators
}

// withYARA returns emit with its file changes passed through the YARA
// rules of t, and the flush to call once the comparison is over (a no-op
// without rules).
func withYARA(ctx context.Context, t Target, opt Options, emit Emitter) (Emitter, func() error) {
	if emit.File == nil {
		return emit, func() error { return nil }
	}
	b := newYARABatch(ctx, t, opt, changeSubject, emit.File)
	if b == nil {
		return emit, func() error { return nil }
	}
	emit.File = b.add
	return emit, b.flush
}
