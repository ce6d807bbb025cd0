package serverconf

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/zeebo/blake3"
)

// Parser names accepted by ParseFile; most equal Item.Server, "userini"
// yields items of server "php".
var parsers = map[string]func(p *parser, src string, data []byte) error{
	"registry":  nil, // not read as a whole: see parseRegistryFile
	"iis":       parseIIS,
	"webconfig": parseWebConfig,
	"exchange":  parseExchange,
	"apache":    parseApache,
	"htaccess":  parseHtaccess,
	"nginx":     parseNginx,
	"php":       parsePHPIni,
	"userini":   parseUserIni,
	"tomcat":    parseTomcat,
}

// Servers lists the server names ParseFile accepts.
func Servers() []string {
	var s []string
	for k := range parsers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// ParseFile parses the configuration at path (a path on this host, inside
// sysroot unless sysroot is empty) as server, or as what Detect guesses
// when server is empty. Server "registry" reads a registry hive file (a
// file starting with "regf" is one when server is empty), or on Windows
// the live registry when path is HKLM\SYSTEM or HKLM\SOFTWARE. It never panics: a file that cannot be read or
// parsed yields an Inventory with Err set and an item of kind
// "unparsable", so that a Diff reports it.
func ParseFile(sysroot, path, server string) (inv Inventory) {
	r := newSysroot(sysroot)
	if r.dir != "" {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	if server == "registry" || server == "" && IsHive(path) {
		return parseRegistryFile(r, path)
	}
	src := r.display(path)
	inv = Inventory{Server: server, Source: src}
	data, sum, err := readConfig(path, MaxConfigSize)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, errTooLarge) {
			msg = "file " + msg
		} else if pe, ok := err.(*os.PathError); ok {
			msg = pe.Err.Error()
		}
		// A file too large to parse still has its digest, so that every
		// later edit of it is a change.
		inv.BLAKE3 = sum
		inv.Err = &ParseError{File: src, Msg: msg}
		inv.Items = []Item{unparsableItem(inv.Server, inv.Err, sum)}
		inv.Files = []string{src}
		inv.Sources.addFile(r, src, path)
		return inv
	}
	return parseData(r, path, src, server, data)
}

// ParseBytes is ParseFile for data already read from hostPath.
func ParseBytes(sysroot, hostPath, server string, data []byte) Inventory {
	r := newSysroot(sysroot)
	if r.dir != "" {
		if abs, err := filepath.Abs(hostPath); err == nil {
			hostPath = abs
		}
	}
	if server == "registry" || server == "" && bytes.HasPrefix(data, []byte("regf")) {
		return parseRegistryBytes(r, hostPath, r.display(hostPath), data)
	}
	return parseData(r, hostPath, r.display(hostPath), server, data)
}

func newSysroot(dir string) sysroot {
	if dir == "/" {
		dir = ""
	}
	if dir != "" {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
	}
	return sysroot{dir: dir}
}

func parseData(r sysroot, hostPath, src, server string, data []byte) (inv Inventory) {
	sum := blake3.Sum256(data)
	if server == "" {
		server = Detect(hostPath, data)
	}
	inv = Inventory{Server: server, Source: src, BLAKE3: hex.EncodeToString(sum[:])}
	p := &parser{root: r, server: itemServer(server), visited: map[string]bool{src: true}, top: src,
		sums: map[string]string{src: inv.BLAKE3}, read: int64(len(data))}
	p.sources.addFile(r, src, hostPath)
	defer func() {
		if v := recover(); v != nil { // a parser bug must not take the monitor down
			inv.Err = &ParseError{File: src, Msg: "internal parser error"}
			inv.Items = []Item{unparsableItem(p.server, inv.Err, inv.BLAKE3)}
		}
	}()
	fn, ok := parsers[server]
	var err error
	if !ok || fn == nil {
		err = &ParseError{File: src, Msg: "unknown server type " + strquote(server)}
	} else if len(data) > MaxConfigSize {
		err = &ParseError{File: src, Msg: "file " + errTooLarge.Error()}
	} else {
		err = fn(p, src, data)
	}
	if err == nil && p.overflow {
		err = &ParseError{File: src, Msg: "more than " + itoa(maxItems) + " items"}
	}
	if err != nil {
		pe, ok := err.(*ParseError)
		if !ok {
			pe = &ParseError{File: src, Msg: err.Error()}
		}
		inv.Err = pe
		p.items = append(p.items, p.unparsable(pe))
	}
	p.moduleFiles()
	p.hashImages()
	inv.Items = p.items
	inv.Files = append([]string{src}, p.files...)
	inv.Sources = p.sources
	inv.Warnings = append(inv.Warnings, p.warnings...)
	if inv.Items == nil {
		inv.Items = []Item{}
	}
	return inv
}

func itemServer(server string) string {
	if server == "userini" {
		return "php"
	}
	return server
}

func strquote(s string) string { return `"` + s + `"` }

// unparsableItem is the item that stands for a file that cannot be read
// or parsed. sum, the BLAKE3 of the file when it could be read, is in
// its attrs: any later edit of the file changes the item, so an
// unparsable file never becomes a blind spot.
func unparsableItem(server string, pe *ParseError, sum string) Item {
	if server == "" {
		server = "unknown"
	}
	it := Item{
		Server: server, Kind: "unparsable", Name: pe.File, Source: pe.File, Line: pe.Line,
		Attrs: map[string]string{"error": pe.Msg, "line": itoa(pe.Line), "col": itoa(pe.Col)},
	}
	if sum != "" {
		it.Attrs["blake3"] = sum
	}
	return it
}

// unparsable is [unparsableItem] of a file this parser read.
func (p *parser) unparsable(pe *ParseError) Item {
	return unparsableItem(p.server, pe, p.sums[pe.File])
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// parser collects the items of one ParseFile call, across included files.
type parser struct {
	root     sysroot
	server   string
	top      string // the configuration file
	items    []Item
	visited  map[string]bool // included files, against include loops
	files    []string        // included files in order
	overflow bool            // more than maxItems items
	depth    int
	// sums are the BLAKE3 digests of the files read, by display path.
	sums map[string]string
	// read counts the bytes of configuration read, globDirs the
	// directories listed by include patterns: both are bounded (see
	// limits.go).
	read     int64
	globDirs int
	// at is the include directive being expanded, where a bound that is
	// exceeded is reported; limited is set once one was.
	at       origin
	limited  bool
	sources  Sources
	warnings []string
}

func (p *parser) add(it Item) {
	if len(p.items) >= maxItems {
		p.overflow = true
		return
	}
	if it.Server == "" {
		it.Server = p.server
	}
	for k, v := range it.Attrs {
		if v == "" {
			delete(it.Attrs, k)
		}
	}
	if len(it.Attrs) == 0 {
		it.Attrs = nil
	}
	p.items = append(p.items, it)
}

// include reads server path sp for an include directive; it returns the
// display path and data, or ok=false when the file was already included
// or a bound is exceeded. Errors become "unparsable" items of the
// included file.
func (p *parser) include(sp string) (src string, data []byte, ok bool) {
	if p.limited {
		return "", nil, false
	}
	hp, err := p.root.host(sp, false)
	if err != nil {
		p.sources.addFile(p.root, sp, "") // it may appear
		return "", nil, false
	}
	src = p.root.display(hp)
	if p.visited[src] {
		return "", nil, false
	}
	switch {
	case p.depth >= maxIncludeDepth:
		p.exceed("includes nested more than " + itoa(maxIncludeDepth) + " deep")
		return "", nil, false
	case len(p.visited) >= maxIncludeFiles:
		p.exceed("more than " + itoa(maxIncludeFiles) + " files included")
		return "", nil, false
	}
	p.visited[src] = true
	p.files = append(p.files, src)
	p.sources.addFile(p.root, sp, hp)
	data, sum, err := readConfig(hp, min(MaxConfigSize, maxInventoryBytes-p.read))
	if sum != "" {
		p.sums[src] = sum
	}
	if err != nil {
		if errors.Is(err, errTooLarge) && maxInventoryBytes-p.read < MaxConfigSize {
			p.exceed("more than " + itoa(maxInventoryBytes>>20) + " MiB of configuration read")
			return "", nil, false
		}
		msg := err.Error()
		if errors.Is(err, errTooLarge) {
			msg = "file " + msg
		}
		p.items = append(p.items, unparsableItem(p.server, &ParseError{File: src, Msg: msg}, sum))
		return "", nil, false
	}
	p.read += int64(len(data))
	return src, data, true
}

// glob expands a server path pattern inside the sysroot, in sorted order;
// dot files match only a pattern component starting with a dot. The
// directories it lists are sources of the inventory (a new file there
// can change it); how many it lists and matches is bounded.
func (p *parser) glob(pattern string) []string {
	if p.limited {
		return nil
	}
	sp := serverPath(pattern)
	paths := []string{"/"}
	for _, c := range strings.Split(strings.TrimPrefix(sp, "/"), "/") {
		if c == "" {
			continue
		}
		var next []string
		for _, d := range paths {
			if !hasMeta(c) {
				next = append(next, path.Join(d, c))
				continue
			}
			if p.globDirs++; p.globDirs > maxGlobDirs {
				p.exceed("more than " + itoa(maxGlobDirs) + " directories listed")
				return nil
			}
			p.sources.addDir(p.root, d)
			hd, err := p.root.host(d, false)
			if err != nil {
				continue
			}
			ents, err := os.ReadDir(hd)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(c, ".") {
					continue
				}
				if ok, _ := path.Match(c, e.Name()); ok {
					next = append(next, path.Join(d, e.Name()))
				}
			}
			if len(next) > maxGlobMatches {
				p.exceed("more than " + itoa(maxGlobMatches) + " paths matched")
				return nil
			}
		}
		paths = next
	}
	var out []string
	for _, x := range paths {
		if _, err := p.root.host(x, false); err == nil {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[`) }

// hashImages fills ImageBLAKE3 for items naming a readable file.
func (p *parser) hashImages() {
	cache := map[string]string{}
	for i := range p.items {
		it := &p.items[i]
		if it.Image == "" || !hashedKind(it.Kind) {
			continue
		}
		if d, ok := cache[it.Image]; ok {
			it.ImageBLAKE3 = d
			continue
		}
		d := p.hashFile(it.Image)
		cache[it.Image] = d
		it.ImageBLAKE3 = d
	}
}

func hashedKind(kind string) bool {
	switch kind {
	case "global_module", "isapi_filter", "isapi_cgi_restriction", "handler", "load_module", "load_file",
		"extension", "zend_extension", "auto_prepend_file", "auto_append_file", "transport_agent", "war",
		"module_provider", "fastcgi_application", "module_file",
		"filter_dll", "service_dll", "service_image", "registry_value":
		return true
	}
	return false
}

func (p *parser) hashFile(image string) string {
	if !strings.HasPrefix(image, "/") && !isWindowsPath(image) {
		return ""
	}
	hp, err := p.root.host(image, false)
	if err != nil {
		return ""
	}
	p.sources.addFile(p.root, image, hp)
	if fi, err := os.Stat(hp); err != nil || !fi.Mode().IsRegular() {
		return "" // never open a FIFO or device named as a module
	}
	f, err := os.Open(hp)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxImageSize {
		return ""
	}
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkText rejects binary data: a control character other than
// whitespace is reported with its position.
func checkText(src string, data []byte) error {
	line, col := 1, 1
	for i := 0; i < len(data); {
		c := data[i]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' || c == 0x7f {
			return &ParseError{File: src, Line: line, Col: col, Msg: "binary data (control character " + hexByte(c) + ")"}
		}
		if c == '\n' {
			line, col = line+1, 1
			i++
			continue
		}
		_, n := utf8.DecodeRune(data[i:])
		i += n
		col++
	}
	return nil
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return "0x" + string([]byte{digits[c>>4], digits[c&15]})
}

// stripBOM drops a UTF-8 byte order mark.
func stripBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
}

// Detect guesses the server whose configuration data is, from the file
// name first and the content second; "" if it cannot tell.
func Detect(name string, data []byte) string {
	base := strings.ToLower(filepath.Base(name))
	slash := strings.ToLower(filepath.ToSlash(name))
	if s, ok := ForFile(base); ok {
		return s
	}
	switch {
	case strings.HasSuffix(base, ".ini") || base == "php-fpm.conf" || strings.Contains(slash, "/php-fpm.d/") ||
		strings.Contains(slash, "/php/") && strings.Contains(slash, "/pool.d/"):
		return "php"
	case base == "applicationhost.config" || base == "administration.config" || base == "redirection.config":
		return "iis"
	case base == "agents.config" || base == "fetagents.config":
		return "exchange"
	case base == "apache2.conf" || base == "httpd.conf" || strings.Contains(slash, "/apache2/") || strings.Contains(slash, "/httpd/"):
		return "apache"
	case base == "nginx.conf" || strings.Contains(slash, "/nginx/"):
		return "nginx"
	case base == "server.xml" || strings.Contains(slash, "tomcat") || strings.Contains(slash, "/catalina/") || strings.HasSuffix(base, ".war"):
		return "tomcat"
	}
	head := data
	if len(head) > 64<<10 {
		head = head[:64<<10]
	}
	s := string(head)
	switch {
	case strings.Contains(s, "<agentList"):
		return "exchange"
	case strings.Contains(s, "<system.applicationHost") || strings.Contains(s, "<configurationRedirection") || strings.Contains(s, "<moduleProviders"):
		return "iis"
	case strings.Contains(s, "<system.webServer") || strings.Contains(s, "<system.web>"):
		return "webconfig"
	case strings.Contains(s, "<Server") || strings.Contains(s, "<web-app") || strings.Contains(s, "<Context"):
		return "tomcat"
	case strings.Contains(s, "LoadModule") || strings.Contains(s, "DocumentRoot") || strings.Contains(s, "<VirtualHost"):
		return "apache"
	case strings.Contains(s, "worker_processes") || strings.Contains(s, "server {") || strings.Contains(s, "http {") || strings.Contains(s, "load_module"):
		return "nginx"
	case strings.Contains(s, "[PHP]") || strings.Contains(s, "php_admin_value") || strings.Contains(s, "extension="):
		return "php"
	}
	return ""
}

// ForFile tells which parser reads a per-directory configuration file
// found under a web root: "webconfig" for web.config, "htaccess" for
// .htaccess, "userini" for .user.ini (items of server "php").
func ForFile(name string) (server string, ok bool) {
	// Called for every file of a walk: no allocation, and most names are
	// rejected by their length.
	base := filepath.Base(name)
	for _, f := range configFileNames {
		if len(base) == len(f.name) && strings.EqualFold(base, f.name) {
			return f.server, true
		}
	}
	return "", false
}

// configFileNames are the config files [ForFile] recognises under a root.
var configFileNames = []struct{ name, server string }{
	{"web.config", "webconfig"},
	{".htaccess", "htaccess"},
	{".user.ini", "userini"},
}

// windowsVars are the environment variables IIS and Exchange configs use,
// expanded as on a default installation whose system volume is C:.
var windowsVars = map[string]string{
	"windir":                  `C:\Windows`,
	"systemroot":              `C:\Windows`,
	"systemdrive":             `C:`,
	"programfiles":            `C:\Program Files`,
	"programfiles(x86)":       `C:\Program Files (x86)`,
	"programw6432":            `C:\Program Files`,
	"commonprogramfiles":      `C:\Program Files\Common Files`,
	"programdata":             `C:\ProgramData`,
	"exchangeinstallpath":     `C:\Program Files\Microsoft\Exchange Server\V15\`,
	"iis_user_home":           `C:\inetpub\wwwroot`,
	"public":                  `C:\Users\Public`,
	"allusersprofile":         `C:\ProgramData`,
	"commonprogramfiles(x86)": `C:\Program Files (x86)\Common Files`,
}

// expandWindows expands %VAR% references (case-insensitively); unknown
// variables are left as written.
func expandWindows(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			break
		}
		name := s[i+1 : i+1+j]
		if v, ok := windowsVars[strings.ToLower(name)]; ok {
			b.WriteString(s[:i])
			b.WriteString(v)
			s = s[i+j+2:]
			if strings.HasSuffix(v, `\`) && strings.HasPrefix(s, `\`) {
				s = s[1:]
			}
			continue
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
	b.WriteString(s)
	return b.String()
}

// withRaw returns attrs with raw_image set when expansion changed raw.
func withRaw(attrs map[string]string, raw, expanded string) map[string]string {
	if raw != expanded {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["raw_image"] = raw
	}
	return attrs
}
