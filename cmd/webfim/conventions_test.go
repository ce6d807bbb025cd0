package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"webfim/serverconf"
)

// Commands are listed in main.go in the order "webfim --help" shows them.
func TestCommandsSorted(t *testing.T) {
	var names []string
	for _, c := range commands() {
		names = append(names, c.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("commands() = %v, want them sorted by name", names)
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("commands() = %v: a name twice", names)
	}
}

// Commands are registered explicitly: no init function adds one behind
// main's back.
func TestNoInitRegistration(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == "init" {
				t.Errorf("%s: func init: register commands in main.go's commands() instead", fset.Position(fd.Pos()))
			}
		}
	}
}

// A command's own flag must not take a global flag's name: the global one
// would silently stop working after that command.
func TestNoCommandShadowsGlobalFlags(t *testing.T) {
	var global []string
	for _, f := range globalFlags(true) {
		global = append(global, f.Names()...)
	}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				for _, n := range f.Names() {
					if slices.Contains(global, n) {
						t.Errorf("%s %s: flag -%s shadows a global flag", path, c.Name, n)
					}
				}
			}
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("webfim", commands())
}

func TestDisplayText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v2.3.1", "v2.3.1"},
		{"release 7 ✓ été 東京\u3000x", "release 7 ✓ été 東京\u3000x"}, // spaces of any script stay
		{"a\nb\r\tc", `a\x0ab\x0d\x09c`},
		{"\x1b[2J\x1b]0;title\x07", `\x1b[2J\x1b]0;title\x07`},
		{"csi\u009b31m", `csi\u009b31m`},                 // C1 control
		{"invoice\u202egnp.php", `invoice\u202egnp.php`}, // right-to-left override
		{"zero\u200bwidth\u2028line", `zero\u200bwidth\u2028line`},
		{"bad\xff\xfe", `bad\xff\xfe`},
		{`back\slash`, `back\\slash`},
		{"\U000e0041tag", `\U000e0041tag`},
	} {
		if got := displayText(tc.in); got != tc.want {
			t.Errorf("displayText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Windows paths keep their backslashes; the rest of the rule holds.
	if got, want := displayPath("C:\\inetpub\\wwwroot\\a\nb"), `C:\inetpub\wwwroot\a\x0ab`; got != want {
		t.Errorf("displayPath = %q, want %q", got, want)
	}
}

// FuzzDisplayText checks what the rule promises for any input: one line of
// valid UTF-8 without control or invisible formatting characters, from
// which the exact input can be recovered.
func FuzzDisplayText(f *testing.F) {
	for _, s := range []string{"v1", "a\nb", "\x1b[31m", "\u202e", "\xff", `\`, `"q"`, "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := displayText(s)
		if !utf8.ValidString(out) {
			t.Fatalf("displayText(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if !unicode.IsGraphic(r) {
				t.Fatalf("displayText(%q) = %q: holds %U", s, out, r)
			}
		}
		back, err := strconv.Unquote(`"` + strings.ReplaceAll(out, `"`, `\"`) + `"`)
		if err != nil || back != s {
			t.Fatalf("displayText(%q) = %q: unquotes to %q, %v", s, out, back, err)
		}
	})
}

func TestDiscoveryNote(t *testing.T) {
	if got := discoveryNote("", serverconf.Discovery{}); got != "" {
		t.Errorf("nothing discovered: %q, want no line", got)
	}
	var d serverconf.Discovery
	for i := range 7 {
		d.Configs = append(d.Configs, serverconf.Config{Server: "apache", Path: "/etc/apache2/site" + strconv.Itoa(i) + ".conf"})
	}
	d.WebRoots = []serverconf.WebRoot{{Path: "/var/www/html\n"}}
	got := discoveryNote("", d)
	for _, want := range []string{
		"webfim: discovered on this system and covered too: 7 server configs (apache /etc/apache2/site0.conf, ",
		"apache /etc/apache2/site4.conf and 2 more), 1 web root (/var/www/html\\x0a); --no-discover",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("note = %q\nwant it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "site5") || strings.Count(got, "\n") != 0 {
		t.Errorf("note = %q: want the first 5 configs, on one line", got)
	}
	if got := discoveryNote("/mnt/image", serverconf.Discovery{Configs: d.Configs[:1]}); !strings.Contains(got, "discovered in sysroot /mnt/image and covered too: 1 server config (apache ") {
		t.Errorf("sysroot note = %q", got)
	}
}
