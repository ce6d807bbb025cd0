package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"webfim/baseline"
	"webfim/serverconf"
)

// The comparisons of part of a target, for the watch daemon: one root
// ([DiffRoot]), one path or subtree ([CheckPath], [CheckSubtree]) and the
// server configurations outside the roots ([DiffConfigs]). Each reports
// what [Diff] reports for that part, in the same terms: a change found by
// one of them and by a diff of the whole target is the same change.

// DiffRoot compares the live root (one of t.Roots) with its records in
// the baseline from, reading them once (unless opt.Full, digests are
// reused where the metadata is unchanged), and reports the inventory
// changes of the server configuration files among the changed entries.
func DiffRoot(ctx context.Context, db Baselines, from Baseline, t Target, root string, opt Options, emit Emitter) (Result, error) {
	var res Result
	old := db.RootRecords(from.ID, root, "")
	pairs := baseline.MergeWalk(ctx, []string{root}, old, opt.walkOptions(t, nil))
	var inv *inventoryOf
	emit, flush := withYARA(ctx, t, opt, emit)
	sum, err := baseline.ComparePairs(pairs, func(ch baseline.Change) error {
		if emit.File != nil {
			if err := emit.File(ch); err != nil {
				return err
			}
		}
		if _, ok := serverconf.ForFile(path.Base(ch.Path)); ok {
			if inv == nil {
				inv = &inventoryOf{db: db, id: from.ID}
			}
			if err := res.rootConfig(inv, t, opt, ch.Root, ch.Path, emit); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	res.Files = sum
	return res, err
}

// CheckPath compares the live entry rel of root with its record in the
// baseline from, and, when it is a server configuration file (web.config,
// .htaccess, .user.ini), the file's inventory with the baseline's. An
// entry excluded by t, or absent from both, is no change.
func CheckPath(db Baselines, from Baseline, t Target, root, rel string, opt Options, emit Emitter) (Result, error) {
	emit, flush := withYARA(context.Background(), t, opt, emit)
	res, err := checkPath(db, from, t, root, rel, opt, emit)
	if err == nil {
		err = flush()
	}
	return res, err
}

func checkPath(db Baselines, from Baseline, t Target, root, rel string, opt Options, emit Emitter) (Result, error) {
	var res Result
	prev, inBaseline, err := db.Lookup(from.ID, root, rel)
	if err != nil {
		return res, fmt.Errorf("baseline %d: looking up %s: %w", from.ID, displayJoin(root, rel), err)
	}
	var prevPtr *baseline.Record
	if inBaseline {
		prevPtr = &prev
	}
	wopt := opt.walkOptions(t, nil)
	wopt.Full = false // a record whose metadata is unchanged keeps its digest, as in a fast diff
	live, err := baseline.Stat(root, rel, wopt, prevPtr)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	if x := t.Exclude; exists && x != nil && rel != "" && x(root, rel, live.Type == baseline.TypeDir) {
		return res, nil
	}
	if !exists && !inBaseline {
		return res, nil
	}
	var oldState, newState []baseline.Record
	if inBaseline {
		oldState = []baseline.Record{prev}
	}
	if exists {
		newState = []baseline.Record{live}
	}
	emitFile := emit.File
	if emitFile == nil {
		emitFile = func(baseline.Change) error { return nil }
	}
	if res.Files, err = baseline.Compare(stateOf(oldState), stateOf(newState), emitFile); err != nil {
		return res, err
	}
	err = res.rootConfig(&inventoryOf{db: db, id: from.ID}, t, opt, root, rel, emit)
	return res, err
}

// CheckSubtree is [CheckPath] of rel and of every baseline entry below
// it: for a directory that was removed or renamed away, whose entries are
// gone unless they came back.
func CheckSubtree(ctx context.Context, db Baselines, from Baseline, t Target, root, rel string, opt Options, emit Emitter) (Result, error) {
	emit, flush := withYARA(ctx, t, opt, emit)
	res, err := checkSubtree(ctx, db, from, t, root, rel, opt, emit)
	if err == nil {
		err = flush()
	}
	return res, err
}

func checkSubtree(ctx context.Context, db Baselines, from Baseline, t Target, root, rel string, opt Options, emit Emitter) (Result, error) {
	res, err := checkPath(db, from, t, root, rel, opt, emit)
	if err != nil {
		return res, err
	}
	prefix := rel + "/"
	if rel == "" {
		prefix = ""
	}
	for rec, err := range db.RootRecords(from.ID, root, prefix) {
		if err != nil {
			return res, fmt.Errorf("baseline %d: reading %s: %w", from.ID, displayJoin(root, rel), err)
		}
		if rec.Path == "" {
			continue
		}
		r, err := checkPath(db, from, t, root, rec.Path, opt, emit)
		res.add(r)
		if err != nil {
			return res, err
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// DiffConfigs parses the server configurations of t (not the ones found
// under the roots: [CheckPath] and [DiffRoot] cover those) and reports
// how their inventory differs from the baseline's.
func DiffConfigs(db Baselines, from Baseline, t Target, opt Options, emit Emitter) (Result, error) {
	var res Result
	if len(t.Configs) == 0 {
		return res, nil
	}
	old, err := db.Inventory(from.ID)
	if err != nil {
		return res, fmt.Errorf("baseline %d: reading the inventory: %w", from.ID, err)
	}
	old = slices.DeleteFunc(old, func(it serverconf.Item) bool { return t.underRoot(it.Source) })
	var items []serverconf.Item
	for _, c := range t.Configs {
		items = append(items, slices.DeleteFunc(parse(t, opt, c), func(it serverconf.Item) bool { return t.underRoot(it.Source) })...)
	}
	return res, compareItems(&res, old, items, emit)
}

// rootConfig reports the inventory changes of the server configuration
// file rel under root (web.config, .htaccess, .user.ini), as [Diff] does
// for the files its walk finds: the items of the live file against the
// baseline's items from that file.
func (r *Result) rootConfig(inv *inventoryOf, t Target, opt Options, root, rel string, emit Emitter) error {
	server, ok := serverconf.ForFile(path.Base(rel))
	if !ok {
		return nil
	}
	abs := displayJoin(root, rel)
	old, err := inv.get()
	if err != nil {
		return err
	}
	old = slices.DeleteFunc(slices.Clone(old), func(it serverconf.Item) bool { return it.Source != abs })
	var items []serverconf.Item
	if fi, err := os.Lstat(abs); err == nil && fi.Mode().IsRegular() {
		items = parse(t, opt, serverconf.Config{Server: server, Path: abs})
	}
	return compareItems(r, old, items, emit)
}

// parse returns the items of one server configuration file, telling
// opt.OnConfigError when it cannot be parsed, and opt.OnError why its
// inventory may be stale (a registry hive whose transaction logs are not
// replayed).
func parse(t Target, opt Options, c serverconf.Config) []serverconf.Item {
	inv := serverconf.ParseFile(t.Sysroot, c.Path, c.Server)
	if inv.Err != nil && opt.OnConfigError != nil {
		opt.OnConfigError(c.Path, inv.Err)
	}
	if opt.OnConfigSources != nil {
		opt.OnConfigSources(c.Path, inv.Sources)
	}
	if opt.OnError != nil {
		for _, w := range inv.Warnings {
			opt.OnError("", c.Path, errors.New(w))
		}
	}
	return inv.Items
}

// inventoryOf reads a baseline's inventory once, when first needed.
type inventoryOf struct {
	db    Baselines
	id    uint64
	items []serverconf.Item
	read  bool
}

func (i *inventoryOf) get() ([]serverconf.Item, error) {
	if !i.read {
		items, err := i.db.Inventory(i.id)
		if err != nil {
			return nil, fmt.Errorf("baseline %d: reading the inventory: %w", i.id, err)
		}
		i.items, i.read = items, true
	}
	return i.items, nil
}

func (r *Result) add(o Result) {
	r.Files.Added += o.Files.Added
	r.Files.Removed += o.Files.Removed
	r.Files.ContentChanged += o.Files.ContentChanged
	r.Files.MetadataChanged += o.Files.MetadataChanged
	r.Files.Moved += o.Files.Moved
	r.Items.Added += o.Items.Added
	r.Items.Removed += o.Items.Removed
	r.Items.Changed += o.Items.Changed
}

// underRoot reports whether p is one of the roots of t or below one.
func (t Target) underRoot(p string) bool {
	for _, root := range t.Roots {
		if p == root || strings.HasPrefix(p, strings.TrimSuffix(root, string(filepath.Separator))+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func displayJoin(root, rel string) string {
	if rel == "" {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// stateOf is a state of the given records.
func stateOf(recs []baseline.Record) baseline.State {
	return func(yield func(baseline.Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}
