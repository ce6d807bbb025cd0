package serverconf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Issue 12, item 2: an unparsable configuration file keeps its digest in
// its "unparsable" item, so every later edit of it is a change: a file
// over MaxConfigSize, one holding a control character (which Apache still
// loads), and an included file of either kind.
func TestUnparsableKeepsDigest(t *testing.T) {
	cases := []struct {
		name  string
		write func(t *testing.T, p string)
	}{
		{"control character", func(t *testing.T, p string) {
			writeFile(t, filepath.Dir(p), filepath.Base(p), "ServerName x\n\x01 binary\n")
		}},
		{"too large", func(t *testing.T, p string) {
			writeFile(t, filepath.Dir(p), filepath.Base(p), strings.Repeat("# padding\n", MaxConfigSize/10+1))
		}},
	}
	for _, tc := range cases {
		for _, included := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/included=%v", tc.name, included), func(t *testing.T) {
				root := t.TempDir()
				conf := filepath.Join(root, "etc/apache2/apache2.conf")
				broken := conf
				if included {
					writeFile(t, root, "etc/apache2/apache2.conf", "Include conf.d/*.conf\nLoadModule a_module /m/a.so\n")
					broken = filepath.Join(root, "etc/apache2/conf.d/big.conf")
				}
				tc.write(t, broken)
				before := unparsableOf(t, ParseFile(root, conf, "apache"), broken, root)
				if before.Attrs["blake3"] == "" {
					t.Fatalf("unparsable item without a digest: %+v", before)
				}
				// The attacker's append of the issue.
				f, err := os.OpenFile(broken, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(f, "LoadModule evil_module /tmp/evil.so")
				f.Close()
				inv := ParseFile(root, conf, "apache")
				after := unparsableOf(t, inv, broken, root)
				changes := Diff([]Item{before}, []Item{after})
				if len(changes) != 1 || changes[0].Kind != ItemChanged || !slices.Contains(changes[0].Fields, "attrs.blake3") {
					t.Errorf("append to an unparsable file: changes %+v, want the unparsable item changed (attrs.blake3)", changes)
				}
				if !slices.Contains(inv.Sources.Files, broken) {
					t.Errorf("the unparsable file is not among the sources to watch: %v", inv.Sources.Files)
				}
			})
		}
	}
}

func unparsableOf(t *testing.T, inv Inventory, hostPath, root string) Item {
	t.Helper()
	src := "/" + filepath.ToSlash(strings.TrimPrefix(hostPath, root+"/"))
	for _, it := range inv.Items {
		if it.Kind == "unparsable" && it.Source == src {
			return it
		}
	}
	t.Fatalf("no unparsable item for %s in %+v", src, inv.Items)
	return Item{}
}

// Issue 12, item 12: include expansion is bounded in depth, files, bytes
// and directories listed, with an error naming the directive, and ends
// quickly: "Include /*/*/*/*/*" used to read the whole file system.
func TestIncludeBounds(t *testing.T) {
	t.Run("wildcards over the file system", func(t *testing.T) {
		root := t.TempDir()
		// 20 x 20 x 20 directories: the fifth level alone would list 8,000
		for i := range 20 {
			for j := range 20 {
				for k := range 20 {
					if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%d/e%d/f%d", i, j, k)), 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		writeFile(t, root, "etc/apache2/apache2.conf", "ServerName x\nInclude /*/*/*/*/*\nLoadModule a_module /m/a.so\n")
		start := time.Now()
		inv := ParseFile(root, filepath.Join(root, "etc/apache2/apache2.conf"), "apache")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s", d)
		}
		wantLimit(t, inv, "/etc/apache2/apache2.conf", 2, "Include /*/*/*/*/* expands too far (more than 4096 ")
	})
	t.Run("files", func(t *testing.T) {
		root := t.TempDir()
		for i := range maxIncludeFiles/2 + 1 {
			writeFile(t, root, fmt.Sprintf("etc/nginx/a/%05d.conf", i), "")
			writeFile(t, root, fmt.Sprintf("etc/nginx/b/%05d.conf", i), "")
		}
		writeFile(t, root, "etc/nginx/nginx.conf", "events {}\ninclude a/*.conf;\ninclude b/*.conf;\n")
		inv := ParseFile(root, filepath.Join(root, "etc/nginx/nginx.conf"), "nginx")
		wantLimit(t, inv, "/etc/nginx/nginx.conf", 3, "include b/*.conf expands too far (more than 4096 files included)")
	})
	t.Run("bytes", func(t *testing.T) {
		root := t.TempDir()
		for i := range 6 {
			writeFile(t, root, fmt.Sprintf("etc/php/conf.d/%d.ini", i), strings.Repeat("; comment\n", 15<<20/10))
		}
		writeFile(t, root, "etc/php/php.ini", "[PHP]\ninclude = /etc/php/conf.d/*.ini\n")
		inv := ParseFile(root, filepath.Join(root, "etc/php/php.ini"), "php")
		wantLimit(t, inv, "/etc/php/php.ini", 2, "include=/etc/php/conf.d/*.ini expands too far (more than 64 MiB of configuration read)")
	})
	t.Run("depth", func(t *testing.T) {
		root := t.TempDir()
		for i := range maxIncludeDepth + 2 {
			writeFile(t, root, fmt.Sprintf("etc/apache2/%d.conf", i), fmt.Sprintf("Include %d.conf\n", i+1))
		}
		writeFile(t, root, "etc/apache2/apache2.conf", "Include 0.conf\n")
		inv := ParseFile(root, filepath.Join(root, "etc/apache2/apache2.conf"), "apache")
		wantLimit(t, inv, "/etc/apache2/15.conf", 1, "Include 16.conf expands too far (includes nested more than 16 deep)")
	})
}

func wantLimit(t *testing.T, inv Inventory, src string, line int, msg string) {
	t.Helper()
	var found []Item
	for _, it := range inv.Items {
		if it.Kind == "unparsable" {
			found = append(found, it)
		}
	}
	if len(found) != 1 || found[0].Source != src || found[0].Line != line || !strings.HasPrefix(found[0].Attrs["error"], msg) {
		t.Fatalf("unparsable items %+v; want one at %s:%d saying %q", found, src, line, msg)
	}
	if !strings.Contains(found[0].Attrs["error"], "list the files or narrow the pattern") {
		t.Errorf("error does not say what to do: %q", found[0].Attrs["error"])
	}
}

// Issue 12, item 1: an inventory lists every file and directory it was
// read from, so the watch daemon can follow all of them: included files
// (as included, through mods-enabled, and resolved), the directories of
// wildcard includes, PHP's scan directory, module binaries and module
// directories.
func TestInventorySources(t *testing.T) {
	root := copyTree(t, debianTree)
	inv := ParseFile(root, filepath.Join(root, apacheConf), "apache")
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	h := func(rel string) string { return filepath.Join(root, rel) }
	for _, f := range []string{
		h(apacheConf), h("etc/apache2/ports.conf"), h("etc/apache2/mods-enabled/status.load"),
		h("etc/apache2/mods-available/status.load"), h("etc/apache2/envvars"),
		h("usr/lib/apache2/modules/mod_status.so"),
	} {
		if !slices.Contains(inv.Sources.Files, f) {
			t.Errorf("file %s is not a source; sources: %v", f, inv.Sources.Files)
		}
	}
	for _, d := range []string{
		h("etc/apache2/mods-enabled"), h("etc/apache2/conf-enabled"), h("etc/apache2/sites-enabled"),
		h("usr/lib/apache2/modules"),
	} {
		if !slices.Contains(inv.Sources.Dirs, d) {
			t.Errorf("directory %s is not a source; sources: %v", d, inv.Sources.Dirs)
		}
	}
	php := ParseFile(root, filepath.Join(root, "etc/php/8.2/cli/php.ini"), "php")
	if !slices.Contains(php.Sources.Dirs, h("etc/php/8.2/cli/conf.d")) {
		t.Errorf("PHP's scan directory is not a source: %v", php.Sources.Dirs)
	}
}

// Issue 12, item 1: a binary dropped into a module directory without
// being loaded is an item of its own (module_file) and so is an unloaded
// module replaced in place; enabling or disabling a module is the change
// of its LoadModule, not also one of its file.
func TestModuleFiles(t *testing.T) {
	root := copyTree(t, debianTree)
	parse := func() []Item { return parseOK(t, root, apacheConf, "apache") }
	old := parse()
	var unloaded int
	for _, it := range old {
		if it.Kind == "module_file" {
			unloaded++
			if it.ImageBLAKE3 == "" || it.Source != it.Image || !strings.HasPrefix(it.Image, "/usr/lib/apache2/modules/") {
				t.Errorf("module file item: %+v", it)
			}
		}
		if it.Kind == "module_file" && it.Name == "mod_status.so" {
			t.Errorf("a loaded module is also a module_file: %+v", it)
		}
	}
	if unloaded == 0 {
		t.Fatal("no module_file item for the unloaded modules of the fixture")
	}

	writeFile(t, root, "usr/lib/apache2/modules/mod_evil.so", "ELF evil")
	got := Diff(old, parse())
	if len(got) != 1 || got[0].Kind != ItemAdded || got[0].New.Kind != "module_file" || got[0].New.Name != "mod_evil.so" || got[0].New.ImageBLAKE3 == "" {
		t.Fatalf("new binary in the module directory: %+v", got)
	}
	if err := os.Remove(filepath.Join(root, "usr/lib/apache2/modules/mod_evil.so")); err != nil {
		t.Fatal(err)
	}

	// a2enmod rewrite: one change, the LoadModule, which says the binary
	// was there at the baseline.
	if err := os.Symlink("../mods-available/rewrite.load", filepath.Join(root, "etc/apache2/mods-enabled/rewrite.load")); err != nil {
		t.Fatal(err)
	}
	enabled := parse()
	got = Diff(old, enabled)
	if len(got) != 1 || got[0].Kind != ItemAdded || got[0].New.Kind != "load_module" || !strings.Contains(got[0].Note, "already in the module directory") {
		t.Fatalf("a2enmod: %+v", got)
	}
	// a2dismod: one change back.
	got = Diff(enabled, old)
	if len(got) != 1 || got[0].Kind != ItemRemoved || got[0].Old.Kind != "load_module" {
		t.Fatalf("a2dismod: %+v", got)
	}
}
