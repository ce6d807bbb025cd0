package serverconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiscoverDebian(t *testing.T) {
	root, _ := filepath.Abs(debianTree)
	d, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	j := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	wantConfigs := []Config{
		{"apache", j("etc/apache2/apache2.conf")},
		{"nginx", j("etc/nginx/nginx.conf")},
		{"php", j("etc/php/8.2/apache2/php.ini")},
		{"php", j("etc/php/8.2/fpm/php.ini")},
		{"php", j("etc/php/8.2/cli/php.ini")},
		{"php", j("etc/php/8.2/fpm/php-fpm.conf")},
		{"tomcat", j("var/lib/tomcat10/conf/server.xml")},
		{"tomcat", j("var/lib/tomcat10/conf/web.xml")},
	}
	if diff := cmp.Diff(wantConfigs, d.Configs); diff != "" {
		t.Errorf("configs (-want +got):\n%s", diff)
	}
	wantRoots := []WebRoot{
		{Path: j("var/lib/tomcat10/webapps"), Server: "tomcat", Source: "/var/lib/tomcat10/conf/server.xml", Line: 26},
		{Path: j("var/www/html"), Server: "apache", Source: "/etc/apache2/sites-enabled/000-default.conf", Line: 3},
	}
	if diff := cmp.Diff(wantRoots, d.WebRoots); diff != "" {
		t.Errorf("web roots (-want +got):\n%s", diff)
	}
}

// An NTFS volume mounted case-sensitively, with names cased differently
// from what the configs say, is still found.
func TestDiscoverWindowsCaseInsensitive(t *testing.T) {
	root := copyTree(t, windowsTree)
	for _, mv := range [][2]string{
		{"Windows/System32", "Windows/system32"},
		{"Windows/system32/inetsrv/config/applicationHost.config", "Windows/system32/inetsrv/config/APPLICATIONHOST.CONFIG"},
		{"inetpub/wwwroot", "inetpub/WWWRoot"},
		{"Windows", "WINDOWS"},
	} {
		if err := os.Rename(filepath.Join(root, mv[0]), filepath.Join(root, mv[1])); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range d.Configs {
		rel, _ := filepath.Rel(root, c.Path)
		got = append(got, c.Server+" "+filepath.ToSlash(rel))
	}
	want := []string{
		"iis WINDOWS/system32/inetsrv/config/APPLICATIONHOST.CONFIG",
		"iis WINDOWS/system32/inetsrv/config/administration.config",
		"iis WINDOWS/system32/inetsrv/config/redirection.config",
		"exchange Program Files/Microsoft/Exchange Server/V15/TransportRoles/Shared/agents.config",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("configs (-want +got):\n%s", diff)
	}
	wantRoots := []WebRoot{{Path: filepath.Join(root, "inetpub", "WWWRoot"), Server: "iis",
		Source: "/WINDOWS/system32/inetsrv/config/APPLICATIONHOST.CONFIG", Line: 62}}
	if diff := cmp.Diff(wantRoots, d.WebRoots); diff != "" {
		t.Errorf("web roots (-want +got):\n%s", diff)
	}
	// module binaries are still hashed through the case-folded lookup
	items := parseOK(t, root, "WINDOWS/system32/inetsrv/config/APPLICATIONHOST.CONFIG", "iis")
	found := false
	for _, it := range items {
		if it.Kind == "global_module" && it.Name == "DefaultDocumentModule" {
			found = it.ImageBLAKE3 == fileBLAKE3(t, root, "WINDOWS/system32/inetsrv/defdoc.dll")
		}
	}
	if !found {
		t.Error("DefaultDocumentModule image not hashed through case-insensitive lookup")
	}
}

// Absolute symbolic links inside a sysroot point inside the sysroot, never
// at the investigator's own files.
func TestSymlinksStayInSysroot(t *testing.T) {
	root := copyTree(t, debianTree)
	outside := t.TempDir()
	writeFile(t, outside, "evil.load", "LoadModule evil_module /x.so\n")
	// a link to an absolute host path is resolved inside the sysroot, where it does not exist
	if err := os.Symlink(filepath.Join(outside, "evil.load"), filepath.Join(root, "etc/apache2/mods-enabled/evil.load")); err != nil {
		t.Fatal(err)
	}
	// a relative link climbing above the root stays at the root
	if err := os.Symlink("../../../../../../../../.."+filepath.Join(outside, "evil.load"), filepath.Join(root, "etc/apache2/mods-enabled/evil2.load")); err != nil {
		t.Fatal(err)
	}
	for _, it := range parseOK(t, root, apacheConf, "apache") {
		if it.Name == "evil_module" {
			t.Errorf("followed a link out of the sysroot: %+v", it)
		}
	}
}

func TestDiscoverBadSysroot(t *testing.T) {
	if _, err := Discover(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Discover of a missing sysroot: no error")
	}
	f := filepath.Join(t.TempDir(), "file")
	writeFile(t, filepath.Dir(f), "file", "x")
	if _, err := Discover(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Discover of a file: %v", err)
	}
}

func TestForFile(t *testing.T) {
	for name, want := range map[string]string{
		"/var/www/html/.htaccess": "htaccess", `C:\inetpub\wwwroot\Web.Config`: "webconfig",
		"/var/www/.user.ini": "userini", "index.php": "",
	} {
		got, ok := ForFile(filepath.Base(strings.ReplaceAll(name, `\`, "/")))
		if got != want || ok != (want != "") {
			t.Errorf("ForFile(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestOutermost(t *testing.T) {
	in := []WebRoot{{Path: "/var/www/html"}, {Path: "/var/www-old"}, {Path: "/var/www"}, {Path: "/srv"}, {Path: "/var/www"}, {Path: "/srv/a/b"}}
	want := []WebRoot{{Path: "/srv"}, {Path: "/var/www"}, {Path: "/var/www-old"}}
	if d := cmp.Diff(want, outermost(in)); d != "" {
		t.Errorf("outermost (-want +got):\n%s", d)
	}
}

// TestDiscoverUnavailableRoots: a web root a config declares on another
// volume of a mounted Windows image is not watched, and Discover says why
// and where to bind-mount it; once that directory is there, it is a root.
func TestDiscoverUnavailableRoots(t *testing.T) {
	root := copyTree(t, windowsTree)
	conf := filepath.Join(root, "Windows/System32/inetsrv/config/applicationHost.config")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	shop := `            <site name="Shop" id="2">
                <application path="/">
                    <virtualDirectory path="/" physicalPath="D:\sites\shop" />
                </application>
            </site>
            <siteDefaults>`
	data = []byte(strings.Replace(string(data), "            <siteDefaults>", shop, 1))
	if err := os.WriteFile(conf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Unavailable) != 1 {
		t.Fatalf("unavailable roots: %+v, want the shop site", d.Unavailable)
	}
	u := d.Unavailable[0]
	if u.Path != `D:\sites\shop` || u.Server != "iis" || u.Line == 0 ||
		!strings.Contains(u.Reason, "on drive D:") || !strings.Contains(u.Reason, "SYSROOT/sites/shop") {
		t.Errorf("unavailable root %+v does not say which drive and where to mount it", u)
	}
	for _, w := range d.WebRoots {
		if strings.Contains(w.Path, "shop") {
			t.Errorf("missing root listed as watched: %+v", w)
		}
	}
	// The documented workaround: bind-mount (here: create) it in the sysroot.
	if err := os.MkdirAll(filepath.Join(root, "sites", "shop"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err = Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range d.WebRoots {
		found = found || w.Path == filepath.Join(root, "sites", "shop")
	}
	if !found || len(d.Unavailable) != 0 {
		t.Errorf("after mounting: roots %+v, unavailable %+v", d.WebRoots, d.Unavailable)
	}
}
