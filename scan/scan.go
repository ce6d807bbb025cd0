package scan

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"webfim/baseline"
	"webfim/indicators"
	"webfim/indicators/yara"
	"webfim/serverconf"
	"webfim/store"
	"webfim/trust"
)

// Target is what a snapshot covers.
type Target struct {
	// Roots are the absolute web roots to walk.
	Roots []string
	// Configs are the server configuration files to inventory, besides the
	// web.config, .htaccess and .user.ini files found under the roots.
	Configs []serverconf.Config
	// Sysroot is the mounted image or offline copy the paths are inside of
	// ("" or "/" for the live system).
	Sysroot string

	Exclude          func(root, rel string, isDir bool) bool
	ScriptExtensions []string
	HashAllSHA256    bool
	CrossDevice      bool

	// Indicators, if set, scans the files of new content as they are
	// hashed for web-shell indicators (see [baseline.Options.Indicators]);
	// the changes and records carry the results.
	Indicators *indicators.Engine
	// YARA, if set with Indicators, runs its rules on the same files, a
	// batch of files per yara process, before the changes are emitted.
	YARA *yara.Rules
	// LargeFileThreshold: see [baseline.Options.LargeFileThreshold].
	LargeFileThreshold int64
}

// Options tune how a snapshot is taken.
type Options struct {
	// Full re-hashes every file; otherwise a file whose size, mtime,
	// ctime, inode and device are unchanged since the previous state keeps
	// its digest.
	Full     bool
	Workers  int
	Progress func(baseline.Progress)
	OnError  func(root, rel string, err error)
	Limiter  interface {
		WaitN(ctx context.Context, n int) error
	}
	// OnConfigError, if set, is told about a server configuration file
	// that could not be parsed (its items are then missing from the
	// inventory, which the "unparsable" item reports).
	OnConfigError func(path string, err error)
	// OnContentError, if set, is told of a content scan that could not
	// complete, not about one entry: a batch of files the YARA rules
	// could not scan (the yara tool failed or timed out). The changes are
	// passed on all the same, their indicators saying so in Errors.
	OnContentError func(err error)
	// OnIndicators, if set, is told by [Create] of every file whose
	// content was scanned for indicators (Target.Indicators): the files
	// new since the previous baseline, or every script without one. It
	// is called in walk order, after the YARA rules.
	OnIndicators func(r baseline.Record)
	// OnStatement, if set, is given the statement (content digest) of a
	// baseline that [Create] takes, before it is published, and returns
	// the signatures to store with it (see
	// [store.BaselineWriter.OnStatement]).
	OnStatement func(st *trust.Statement, text []byte) (signatures [][]byte, err error)
	// OnConfigSources, if set, is told the files and directories each
	// parsed server configuration was read from (its includes, module
	// binaries and directories): what a watcher must follow.
	OnConfigSources func(path string, s serverconf.Sources)
}

// Baseline describes a stored baseline: its id, label, creation time and
// what it covers. It is the store's record of a baseline, named here so
// that the daemon, which reaches the store only through this package's
// interfaces, uses the one type.
type Baseline = store.Meta

// Baselines is the read side of the store that comparisons need: the
// records and server inventory of a stored baseline. *store.DB is one;
// every call is a short database session.
type Baselines interface {
	// Records streams a baseline's records of every root, in order.
	Records(id uint64, prefix string) baseline.State
	// RootRecords streams a root's records whose path starts with prefix.
	RootRecords(id uint64, root, prefix string) baseline.State
	// Lookup is a point lookup of one record.
	Lookup(id uint64, root, path string) (baseline.Record, bool, error)
	// Inventory returns the server configuration items of a baseline.
	Inventory(id uint64) ([]serverconf.Item, error)
}

// TargetOf returns the target a stored baseline covered.
func TargetOf(m Baseline) Target {
	t := Target{Roots: m.Roots, Sysroot: m.Sysroot, HashAllSHA256: m.HashAllSHA256}
	for _, c := range m.Configs {
		t.Configs = append(t.Configs, parseConfigRef(c))
	}
	return t
}

// configRef and parseConfigRef store a config as "server:path" in
// [store.Meta.Configs], so that a later diff parses it with the same
// parser; a config whose server is to be detected is stored as its path.
func configRef(c serverconf.Config) string {
	if c.Server == "" {
		return c.Path
	}
	return c.Server + ":" + c.Path
}

func parseConfigRef(s string) serverconf.Config {
	server, path, ok := strings.Cut(s, ":")
	if ok && slices.Contains(serverconf.Servers(), server) {
		return serverconf.Config{Server: server, Path: path}
	}
	return serverconf.Config{Path: s}
}

func (o Options) walkOptions(t Target, previous baseline.State) baseline.Options {
	return baseline.Options{
		Workers:            o.Workers,
		Full:               o.Full,
		Previous:           previous,
		HashAllSHA256:      t.HashAllSHA256,
		ScriptExtensions:   t.ScriptExtensions,
		CrossDevice:        t.CrossDevice,
		Exclude:            t.Exclude,
		Roots:              t.Roots,
		Sysroot:            t.Sysroot,
		OnError:            o.OnError,
		Progress:           o.Progress,
		Limiter:            o.Limiter,
		Indicators:         t.Indicators,
		LargeFileThreshold: t.LargeFileThreshold,
	}
}

// live walks the roots of t and yields their records, noting the server
// config files found under the roots in found.
func live(ctx context.Context, t Target, opt Options, previous baseline.State, found *[]serverconf.Config) baseline.State {
	walk := baseline.Walk(ctx, t.Roots, opt.walkOptions(t, previous))
	return func(yield func(baseline.Record, error) bool) {
		for r, err := range walk {
			if err == nil {
				noteConfig(found, &r)
			}
			if !yield(r, err) {
				return
			}
		}
	}
}

// liveAgainst walks the roots of t merged with old (see
// [baseline.MergeWalk]), noting the server config files found under the
// roots in found.
func liveAgainst(ctx context.Context, t Target, opt Options, old baseline.State, found *[]serverconf.Config) iter.Seq2[baseline.Pair, error] {
	pairs := baseline.MergeWalk(ctx, t.Roots, old, opt.walkOptions(t, nil))
	return func(yield func(baseline.Pair, error) bool) {
		for p, err := range pairs {
			if err == nil && p.HasNew {
				noteConfig(found, &p.New)
			}
			if !yield(p, err) {
				return
			}
		}
	}
}

// noteConfig adds r to found if it is a server config file.
func noteConfig(found *[]serverconf.Config, r *baseline.Record) {
	if r.Type != baseline.TypeFile {
		return
	}
	if server, ok := serverconf.ForFile(r.Path); ok {
		*found = append(*found, serverconf.Config{Server: server, Path: filepath.Join(r.Root, filepath.FromSlash(r.Path))})
	}
}

// inventory parses every config of t plus the ones found under the roots
// (see [parse] for what is said about them).
func inventory(t Target, opt Options, found []serverconf.Config) []serverconf.Item {
	var items []serverconf.Item
	for _, c := range append(append([]serverconf.Config(nil), t.Configs...), found...) {
		items = append(items, parse(t, opt, c)...)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Identity() < items[j].Identity() })
	return items
}

// Create takes a snapshot of t and stores it as a new baseline labelled
// label, with its content digest (computed by the store's writer as the
// records are stored); it becomes the active baseline when activate is
// set. Unless opt.Full, digests are reused from the active baseline
// where the incremental rule allows it.
func Create(ctx context.Context, db *store.DB, t Target, label, version string, opt Options, activate bool) (Baseline, error) {
	return CreateReviewed(ctx, db, t, label, version, opt, activate, Review{})
}

// Review sees what a new baseline would trust: every difference between
// the active baseline and the snapshot being taken, in the one walk that
// takes it, so nothing changes between what is reviewed and what is
// stored. A change it holds is left out of the new baseline: the stored
// record (or inventory item) is the active baseline's, or none for an
// added entry, so that the change keeps being reported against the new
// baseline. Moves are seen as a removal and an addition.
type Review struct {
	// File and Item return true to hold a change out of the snapshot.
	File func(baseline.Change) bool
	Item func(serverconf.Change) bool
	// Commit is called once the snapshot is complete, before it is
	// committed, with its metadata (ID set) and its writer: it may add to
	// the metadata, and queue outbox entries published with the baseline
	// ([store.BaselineWriter.EnqueueOnCommit]); an error abandons the
	// snapshot (nothing is stored) and is returned.
	Commit func(*store.Meta, *store.BaselineWriter) error
}

// CreateReviewed is [Create] with a [Review] of what the new baseline
// would trust; without an active baseline there is nothing to compare
// with, and only review.Commit is called. Entries of roots the active
// baseline did not cover are not shown to the review either.
func CreateReviewed(ctx context.Context, db *store.DB, t Target, label, version string, opt Options, activate bool, review Review) (Baseline, error) {
	host, _ := os.Hostname()
	meta := store.Meta{
		Label: label, Created: time.Now().UTC(), Host: host, Roots: t.Roots,
		Version: version, Full: opt.Full, HashAllSHA256: t.HashAllSHA256, Sysroot: t.Sysroot,
	}
	for _, c := range t.Configs {
		meta.Configs = append(meta.Configs, configRef(c))
	}
	var previous baseline.State
	prev, err := db.Resolve("active")
	hasPrev := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Meta{}, err
	}
	if hasPrev && !opt.Full && prev.HashAllSHA256 == t.HashAllSHA256 {
		previous = db.Records(prev.ID, "")
	}
	reviewing := hasPrev && (review.File != nil || review.Item != nil)
	w, err := db.Begin(meta)
	if err != nil {
		return store.Meta{}, err
	}
	start := time.Now()
	var found []serverconf.Config
	scanned := scannedRecords(ctx, t, opt)
	put := func(r *baseline.Record) error {
		// The writer counts what it stores and computes the digest.
		if err := w.Put(*r); err != nil {
			return err
		}
		return scanned.add(*r)
	}
	if reviewing {
		// Only what the active baseline covered was trusted before: entries
		// of roots it does not cover have nothing to be compared with.
		hold := func(ch baseline.Change) bool {
			return review.File != nil && slices.Contains(prev.Roots, ch.Root) && review.File(ch)
		}
		err = putReviewed(ctx, t, opt, db.Records(prev.ID, ""), &found, hold, put)
	} else {
		for r, werr := range live(ctx, t, opt, previous, &found) {
			if err = werr; err == nil {
				err = put(&r)
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		err = scanned.flush()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		w.Abort()
		return store.Meta{}, err
	}
	items := inventory(t, opt, found)
	if reviewing && review.Item != nil {
		oldItems, err := db.Inventory(prev.ID)
		if err != nil {
			w.Abort()
			return store.Meta{}, err
		}
		items = holdItems(oldItems, items, review.Item)
	}
	if err := w.PutInventory(items); err != nil {
		w.Abort()
		return store.Meta{}, err
	}
	if review.Commit != nil {
		meta.ID = w.ID()
		if err := review.Commit(&meta, w); err != nil {
			w.Abort()
			return store.Meta{}, err
		}
	}
	if opt.OnStatement != nil {
		w.OnStatement(opt.OnStatement)
	}
	meta.Duration = time.Since(start)
	return w.Commit(meta, activate)
}

// putReviewed walks t merged with the active baseline old, shows every
// difference to hold and stores each entry's record: the live one, or,
// for a held change, the old one (none for an addition).
func putReviewed(ctx context.Context, t Target, opt Options, old baseline.State, found *[]serverconf.Config, hold func(baseline.Change) bool, put func(*baseline.Record) error) error {
	for p, err := range liveAgainst(ctx, t, opt, old, found) {
		if err != nil {
			return err
		}
		ch, differs := pairChange(&p)
		held := differs && hold != nil && hold(ch)
		switch {
		case held && p.HasOld:
			err = put(&p.Old)
		case held: // an addition held out: not stored at all
		case p.HasNew:
			err = put(&p.New)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pairChange is the change of one merged entry, as [baseline.Compare]
// reports it (moves aside).
func pairChange(p *baseline.Pair) (baseline.Change, bool) {
	switch {
	case !p.HasOld:
		return baseline.Change{Kind: baseline.Added, Root: p.New.Root, Path: p.New.Path, New: &p.New}, true
	case !p.HasNew:
		return baseline.Change{Kind: baseline.Removed, Root: p.Old.Root, Path: p.Old.Path, Old: &p.Old}, true
	}
	fields := baseline.Fields(&p.Old, &p.New)
	if len(fields) == 0 {
		return baseline.Change{}, false
	}
	ch := baseline.Change{Kind: baseline.MetadataChanged, Root: p.New.Root, Path: p.New.Path, Fields: fields, Old: &p.Old, New: &p.New}
	if slices.Contains(fields, "content") || (p.Old.Type == baseline.TypeFile && p.New.Type == baseline.TypeFile && slices.Contains(fields, "size")) {
		ch.Kind = baseline.ContentChanged
	}
	return ch, true
}

// holdItems returns the inventory to store: items, with the changes from
// old that hold returns true for undone.
func holdItems(old, items []serverconf.Item, hold func(serverconf.Change) bool) []serverconf.Item {
	out := slices.Clone(items)
	for _, c := range serverconf.Diff(old, items) {
		if !hold(c) {
			continue
		}
		if c.New != nil {
			if i := slices.IndexFunc(out, func(it serverconf.Item) bool { return reflect.DeepEqual(it, *c.New) }); i >= 0 {
				out = slices.Delete(out, i, i+1)
			}
		}
		if c.Old != nil {
			out = append(out, *c.Old)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Identity() < out[j].Identity() })
	return out
}

// scannedRecords tells opt.OnIndicators of the records whose content was
// scanned, after the YARA rules of t; add and flush do nothing without
// OnIndicators.
func scannedRecords(ctx context.Context, t Target, opt Options) *recordBatch {
	b := &recordBatch{on: opt.OnIndicators}
	if b.on != nil {
		b.yara = newYARABatch(ctx, t, opt, recordSubject, func(r baseline.Record) error {
			b.on(r)
			return nil
		})
	}
	return b
}

type recordBatch struct {
	on   func(baseline.Record)
	yara *yaraBatch[baseline.Record]
}

func (b *recordBatch) add(r baseline.Record) error {
	switch {
	case b.on == nil || r.Indicators == nil:
		return nil
	case b.yara != nil:
		return b.yara.add(r)
	}
	b.on(r)
	return nil
}

func (b *recordBatch) flush() error { return b.yara.flush() }

// Emitter receives the differences found by [Diff], in order: file
// changes as the walk finds them, then inventory changes.
type Emitter struct {
	File func(baseline.Change) error
	Item func(serverconf.Change) error
}

// Result sums up a comparison.
type Result struct {
	Files baseline.Summary
	Items struct{ Added, Removed, Changed int }
}

// Differs reports whether anything differed.
func (r Result) Differs() bool { return r.ExitBits() != 0 }

// ExitBits is the AIDE-style bit sum: 1 added, 2 removed, 4 changed
// (content, metadata, moved, or any server module inventory change).
func (r Result) ExitBits() int {
	bits := 0
	if r.Files.Added > 0 {
		bits |= 1
	}
	if r.Files.Removed > 0 {
		bits |= 2
	}
	if r.Files.ContentChanged+r.Files.MetadataChanged+r.Files.Moved+r.Items.Added+r.Items.Removed+r.Items.Changed > 0 {
		bits |= 4
	}
	return bits
}

// Diff compares the baseline from with to, or with the live state of
// from's target when to is nil. Unless opt.Full, a live file whose
// metadata is unchanged keeps its digest from from. The baseline from is
// read once: the live walk both reuses its digests and merges it.
func Diff(ctx context.Context, db Baselines, from Baseline, to *Baseline, t Target, opt Options, emit Emitter) (Result, error) {
	var res Result
	old := db.Records(from.ID, "")
	var pairs iter.Seq2[baseline.Pair, error]
	var found []serverconf.Config
	if to != nil {
		pairs = baseline.Merge(old, db.Records(to.ID, ""))
	} else {
		pairs = liveAgainst(ctx, t, opt, old, &found)
	}
	emit, flush := withYARA(ctx, t, opt, emit)
	sum, err := baseline.ComparePairs(pairs, emit.File)
	if err == nil {
		err = flush()
	}
	res.Files = sum
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	oldItems, err := db.Inventory(from.ID)
	if err != nil {
		return res, err
	}
	var newItems []serverconf.Item
	if to != nil {
		if newItems, err = db.Inventory(to.ID); err != nil {
			return res, err
		}
	} else {
		newItems = inventory(t, opt, found)
	}
	return res, compareItems(&res, oldItems, newItems, emit)
}

// DiffLive compares a state kept outside the database (an exported
// baseline: its records in [baseline.State] order and its inventory) with
// the live state of t, as [Diff] compares a stored baseline.
func DiffLive(ctx context.Context, old baseline.State, oldItems []serverconf.Item, t Target, opt Options, emit Emitter) (Result, error) {
	var res Result
	var found []serverconf.Config
	emit, flush := withYARA(ctx, t, opt, emit)
	sum, err := baseline.ComparePairs(liveAgainst(ctx, t, opt, old, &found), emit.File)
	if err == nil {
		err = flush()
	}
	res.Files = sum
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, compareItems(&res, oldItems, inventory(t, opt, found), emit)
}

// compareItems adds the inventory changes to res and emits them.
func compareItems(res *Result, oldItems, newItems []serverconf.Item, emit Emitter) error {
	for _, c := range serverconf.Diff(oldItems, newItems) {
		switch c.Kind {
		case serverconf.ItemAdded:
			res.Items.Added++
		case serverconf.ItemRemoved:
			res.Items.Removed++
		default:
			res.Items.Changed++
		}
		if emit.Item != nil {
			if err := emit.Item(c); err != nil {
				return fmt.Errorf("reporting %s: %w", c.Kind, err)
			}
		}
	}
	return nil
}
