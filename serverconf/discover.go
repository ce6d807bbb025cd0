package serverconf

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Discovery is what Discover found on a server.
type Discovery struct {
	Configs  []Config  `json:"configs"`
	WebRoots []WebRoot `json:"web_roots"`
	// Unavailable are the web roots the configs declare that cannot be
	// watched: missing (on a mounted image, often on another volume: its
	// directory can be bind-mounted at the path shown), not a directory,
	// or spelled with a variable left unexpanded. Path is as declared.
	Unavailable []WebRoot `json:"unavailable_web_roots,omitempty"`
	// Registry are the registry hives found (also listed in Configs, as
	// server "registry"), with the inventoried keys they hold.
	Registry []RegistryHive `json:"registry,omitempty"`
}

// Config is a server configuration file to parse and watch. Path is a
// path on this host (inside the sysroot), with symbolic links resolved
// inside the sysroot, so that it is safe to open.
type Config struct {
	Server string `json:"server"`
	Path   string `json:"path"`
}

// WebRoot is a directory a server serves files from. Path is a path on
// this host inside the sysroot; Source and Line name the configuration
// (as seen on the examined server) that declares it.
type WebRoot struct {
	Path   string `json:"path"`
	Server string `json:"server"`
	Source string `json:"source"`
	Line   int    `json:"line,omitempty"`
	// Reason says why a declared root is not watched (in
	// [Discovery].Unavailable only).
	Reason string `json:"reason,omitempty"`
}

// candidates are the standard configuration locations, as server path
// patterns; "secondary" ones are usually included by a primary config
// and are listed only when no primary config included them.
var candidates = []struct {
	server, pattern string
	secondary       bool
}{
	{"iis", "/Windows/System32/inetsrv/config/applicationHost.config", false},
	{"iis", "/Windows/System32/inetsrv/config/administration.config", false},
	{"iis", "/Windows/System32/inetsrv/config/redirection.config", false},
	{"webconfig", "/Windows/Microsoft.NET/Framework64/v4.0.30319/Config/web.config", false},
	{"webconfig", "/Windows/Microsoft.NET/Framework/v4.0.30319/Config/web.config", false},
	{"exchange", "/Program Files/Microsoft/Exchange Server/V15/TransportRoles/Shared/agents.config", false},
	{"exchange", "/Program Files/Microsoft/Exchange Server/V15/TransportRoles/Shared/fetagents.config", false},
	{"apache", "/etc/apache2/apache2.conf", false},
	{"apache", "/etc/httpd/conf/httpd.conf", false},
	{"nginx", "/etc/nginx/nginx.conf", false},
	{"php", "/etc/php/*/apache2/php.ini", false},
	{"php", "/etc/php/*/fpm/php.ini", false},
	{"php", "/etc/php/*/cli/php.ini", false},
	{"php", "/etc/php/*/fpm/php-fpm.conf", false},
	{"php", "/etc/php.ini", false},
	{"php", "/etc/php-fpm.conf", false},
	{"php", "/etc/php/*/*/conf.d/*.ini", true},
	{"php", "/etc/php.d/*.ini", true},
	{"php", "/etc/php/*/fpm/pool.d/*.conf", true},
	{"php", "/etc/php-fpm.d/*.conf", true},
	{"tomcat", "/var/lib/tomcat*/conf/server.xml", false},
	{"tomcat", "/opt/tomcat*/conf/server.xml", false},
	{"tomcat", "/usr/share/tomcat*/conf/server.xml", false},
	{"tomcat", "/etc/tomcat*/server.xml", false},
	{"tomcat", "/var/lib/tomcat*/conf/web.xml", false},
	{"tomcat", "/opt/tomcat*/conf/web.xml", false},
	{"tomcat", "/usr/share/tomcat*/conf/web.xml", false},
	{"tomcat", "/etc/tomcat*/web.xml", false},
}

// Discover finds the server configurations at the standard Linux and
// Windows locations under sysroot ("" or "/" for the live system), parses
// them, and returns them with the web roots they declare (physicalPath,
// DocumentRoot, Alias, root, alias, appBase, docBase), mapped into the
// sysroot, and the registry hives (Windows/System32/config/SYSTEM and
// SOFTWARE; on Windows without a sysroot, the live registry). Windows path components match case-insensitively. Web roots
// that do not exist, or lie inside another web root, are left out.
func Discover(sysroot string) (Discovery, error) {
	r := newSysroot(sysroot)
	if r.dir != "" {
		fi, err := os.Stat(r.dir)
		if err != nil {
			return Discovery{}, fmt.Errorf("sysroot: %w", err)
		}
		if !fi.IsDir() {
			return Discovery{}, fmt.Errorf("sysroot %s: not a directory", r.dir)
		}
	}
	var d Discovery
	seen := map[string]bool{}    // host paths of configs
	covered := map[string]bool{} // display paths of files read so far
	var roots []WebRoot
	p := &parser{root: r}
	for _, c := range candidates {
		fold := c.server == "iis" || c.server == "webconfig" || c.server == "exchange"
		for _, sp := range p.globFold(c.pattern, fold) {
			hp, err := r.host(sp, fold)
			if err != nil || seen[hp] {
				continue
			}
			if fi, err := os.Stat(hp); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if c.secondary && covered[r.display(hp)] {
				continue
			}
			seen[hp] = true
			d.Configs = append(d.Configs, Config{Server: c.server, Path: hp})
			inv := ParseFile(r.dir, hp, c.server)
			for _, f := range inv.Files {
				covered[f] = true
			}
			found, missing := webRoots(r, inv)
			roots = append(roots, found...)
			d.Unavailable = append(d.Unavailable, missing...)
		}
	}
	if len(roots) == 0 || d.hasServer("iis") {
		// IIS default site, also when applicationHost.config is missing
		if hp, err := r.host("/inetpub/wwwroot", true); err == nil {
			roots = append(roots, WebRoot{Path: hp, Server: "iis", Source: "default"})
		}
	}
	d.WebRoots = outermost(roots)
	var cfgs []Config
	d.Registry, cfgs = discoverRegistry(r)
	d.Configs = append(d.Configs, cfgs...)
	return d, nil
}

func (d Discovery) hasServer(s string) bool {
	for _, c := range d.Configs {
		if c.Server == s {
			return true
		}
	}
	return false
}

// webRoots returns the existing directories an inventory declares, and
// the declared ones that are not (with the reason).
func webRoots(r sysroot, inv Inventory) (found, missing []WebRoot) {
	for _, it := range inv.Items {
		switch it.Kind {
		case "web_root", "context":
		default:
			continue
		}
		img := it.Image
		if img == "" || !strings.HasPrefix(img, "/") && !isWindowsPath(img) {
			continue
		}
		miss := func(reason string) {
			missing = append(missing, WebRoot{Path: img, Server: it.Server, Source: it.Source, Line: it.Line, Reason: reason})
		}
		if strings.ContainsAny(img, "$%") {
			miss("names a variable webfim cannot expand")
			continue
		}
		hp, err := r.host(img, false)
		var fi os.FileInfo
		if err == nil {
			fi, err = os.Stat(hp)
		}
		switch {
		case err != nil:
			miss(r.notFound(img))
		case !fi.IsDir():
			miss("not a directory")
		default:
			found = append(found, WebRoot{Path: filepath.Clean(hp), Server: it.Server, Source: it.Source, Line: it.Line})
		}
	}
	return found, missing
}

// notFound says why a declared root p was not found: on a mounted image
// of Windows, a path on another drive than C: needs its volume
// bind-mounted at the path it maps to.
func (r sysroot) notFound(p string) string {
	if r.dir == "" {
		return "not found"
	}
	if d, ok := driveLetter(p); ok && d != 'C' {
		return fmt.Sprintf("not found in the sysroot (on drive %c:; bind-mount that directory at SYSROOT%s)", d, serverPath(p))
	}
	return "not found in the sysroot"
}

// outermost sorts roots by path, drops duplicates and roots nested in
// another root (the walk of the outer one covers them).
func outermost(roots []WebRoot) []WebRoot {
	sort.SliceStable(roots, func(i, j int) bool { return roots[i].Path < roots[j].Path })
	var out []WebRoot
next:
	for _, w := range roots {
		// "/var/www-old" sorts between "/var/www" and "/var/www/html",
		// so compare with every kept root, not just the last
		for _, o := range out {
			if w.Path == o.Path || strings.HasPrefix(w.Path, strings.TrimSuffix(o.Path, string(filepath.Separator))+string(filepath.Separator)) {
				continue next
			}
		}
		out = append(out, w)
	}
	return out
}

// globFold is glob with case-insensitive matching of literal components
// for Windows locations.
func (p *parser) globFold(pattern string, fold bool) []string {
	if !fold {
		return p.glob(pattern)
	}
	if _, err := p.root.host(pattern, true); err == nil {
		return []string{path.Clean(pattern)}
	}
	return nil
}
