package serverconf

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/zeebo/blake3"

	"webfim/hive"
)

// The registry inventory: the values of the registry keys where IIS, WAS,
// Exchange transport and Terminal Services load code from, read from the
// SYSTEM and SOFTWARE hive files of a mounted image or, on Windows, from
// the live registry. Its items have server "registry" and are diffed like
// every other inventory item.

// regKey is a registry key as the inventory reads it: a key of a hive file
// (offline) or of the live registry (Windows).
type regKey interface {
	keyName() string
	subkeys() iter.Seq2[regKey, error]
	subkey(name string) (regKey, error) // an error matching hive.ErrNotFound when missing
	values() iter.Seq2[regValue, error]
}

// regValue is a value with its data, or why the data cannot be read.
type regValue struct {
	name string
	typ  hive.Type
	data []byte
	err  error
}

// hiveKey adapts a key of a hive file.
type hiveKey struct{ k *hive.Key }

func (h hiveKey) keyName() string { return h.k.Name() }

func (h hiveKey) subkeys() iter.Seq2[regKey, error] {
	return func(yield func(regKey, error) bool) {
		for c, err := range h.k.Subkeys() {
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(hiveKey{c}, nil) {
				return
			}
		}
	}
}

func (h hiveKey) subkey(name string) (regKey, error) {
	c, err := h.k.Subkey(name)
	if err != nil {
		return nil, err
	}
	return hiveKey{c}, nil
}

func (h hiveKey) values() iter.Seq2[regValue, error] {
	return func(yield func(regValue, error) bool) {
		for v, err := range h.k.Values() {
			if err != nil {
				yield(regValue{}, err)
				return
			}
			d, derr := v.Data()
			if !yield(regValue{name: v.Name(), typ: v.Type(), data: d, err: derr}, nil) {
				return
			}
		}
	}
}

// registryRoot is where the inventoried keys are, below a hive's root (for
// SYSTEM, below the current control set), as patterns of key names
// (path.Match syntax, compared case-insensitively), and which product
// loads what they name.
type registryRoot struct {
	hive, pattern, product string
}

// registryRoots are the keys the registry inventory reads, with every key
// and value below them.
var registryRoots = []registryRoot{
	// IIS and WAS: the web service, the process activation service and
	// their helpers (ServiceDll, ImagePath, the legacy ISAPI "Filter
	// DLLs" of W3SVC\Parameters)
	{"SYSTEM", `Services\W3SVC*`, "iis"},
	{"SYSTEM", `Services\WAS*`, "iis"},
	{"SYSTEM", `Services\IISADMIN`, "iis"},
	{"SYSTEM", `Services\AppHostSvc`, "iis"},
	{"SYSTEM", `Services\W3LOGSVC`, "iis"},
	{"SYSTEM", `Services\WMSVC`, "iis"},
	// Terminal Services: TermService\Parameters\ServiceDll (T1505.005)
	{"SYSTEM", `Services\TermService`, "termservice"},
	// Exchange transport services
	{"SYSTEM", `Services\MSExchangeTransport*`, "exchange"},
	{"SYSTEM", `Services\MSExchangeFrontEndTransport*`, "exchange"},
	{"SYSTEM", `Services\MSExchangeDelivery*`, "exchange"},
	{"SYSTEM", `Services\MSExchangeSubmission*`, "exchange"},
	// IIS installation: components and their paths
	{"SOFTWARE", `Microsoft\InetStp`, "iis"},
	{"SOFTWARE", `WOW6432Node\Microsoft\InetStp`, "iis"},
	// Exchange transport roles
	{"SOFTWARE", `Microsoft\ExchangeServer\*\*Transport*`, "exchange"},
}

// RegistryHive is what [Discover] found in a registry hive: which of the
// inventoried keys exist, and whether what the primary file holds may be
// stale.
type RegistryHive struct {
	// Hive is "SYSTEM" or "SOFTWARE".
	Hive string `json:"hive"`
	// Path is the hive file on this host, or HKLM\SYSTEM or HKLM\SOFTWARE
	// for the live registry.
	Path string `json:"path"`
	// ControlSet is the control set CurrentControlSet resolves to
	// (Select\Current), in a SYSTEM hive file.
	ControlSet string `json:"control_set,omitempty"`
	// Keys are the inventoried keys found, as registry paths.
	Keys []string `json:"keys"`
	// Logs are the transaction logs next to a hive file.
	Logs []hive.LogFile `json:"logs,omitempty"`
	// Warnings say why the values read may be incomplete or stale.
	Warnings []string `json:"warnings,omitempty"`
	// Error says why the hive could not be read.
	Error string `json:"error,omitempty"`
}

// hiveFiles are the hive files inventoried on a Windows image.
var hiveFiles = []string{"SYSTEM", "SOFTWARE"}

// liveHive returns "SYSTEM" or "SOFTWARE" when p names a hive of the live
// registry (HKLM\SYSTEM, HKEY_LOCAL_MACHINE\SOFTWARE, any case).
func liveHive(p string) (string, bool) {
	root, name, ok := strings.Cut(p, `\`)
	if !ok || !strings.EqualFold(root, "HKLM") && !strings.EqualFold(root, "HKEY_LOCAL_MACHINE") {
		return "", false
	}
	for _, h := range hiveFiles {
		if strings.EqualFold(name, h) {
			return h, true
		}
	}
	return "", false
}

// IsLiveRegistry reports whether p names a hive of the live registry that
// the registry inventory reads: HKLM\SYSTEM or HKLM\SOFTWARE (also spelled
// HKEY_LOCAL_MACHINE, any case).
func IsLiveRegistry(p string) bool {
	_, ok := liveHive(p)
	return ok
}

// IsHive reports whether the file at name starts like a registry hive.
func IsHive(name string) bool {
	if _, ok := liveHive(name); ok {
		return true
	}
	if fi, err := os.Stat(name); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == "regf"
}

// parseRegistryFile is ParseFile for server "registry": hostPath is a hive
// file, or HKLM\SYSTEM or HKLM\SOFTWARE for the live registry.
func parseRegistryFile(r sysroot, hostPath string) Inventory {
	src := hostPath
	if _, live := liveHive(hostPath); !live {
		src = r.display(hostPath)
	}
	p := &parser{root: r, server: "registry"}
	return p.registryInventory(src, func() (RegistryHive, error) {
		if name, live := liveHive(hostPath); live {
			return p.liveRegistry(name, src, false)
		}
		f, size, err := openHive(hostPath)
		if err != nil {
			return RegistryHive{Path: hostPath}, err
		}
		defer f.Close()
		return p.hiveRegistry(f, size, hostPath, src, false)
	}, func() string {
		if _, live := liveHive(hostPath); live {
			return ""
		}
		return hiveBLAKE3(hostPath)
	})
}

// discoverRegistry finds the SYSTEM and SOFTWARE hives of the examined
// server: the hive files of a Windows image, or on Windows without a
// sysroot the live registry; it reports which inventoried keys they hold.
func discoverRegistry(r sysroot) ([]RegistryHive, []Config) {
	var hives []RegistryHive
	var cfgs []Config
	for _, name := range hiveFiles {
		p := &parser{root: r, server: "registry"}
		var info RegistryHive
		var err error
		if r.dir == "" && runtime.GOOS == "windows" {
			info, err = p.liveRegistry(name, `HKLM\`+name, true)
		} else {
			hp, herr := r.host("/Windows/System32/config/"+name, true)
			if herr != nil {
				continue
			}
			f, size, oerr := openHive(hp)
			if oerr != nil {
				continue
			}
			info, err = p.hiveRegistry(f, size, hp, r.display(hp), true)
			f.Close()
		}
		if err != nil {
			info.Error = err.Error()
		}
		hives = append(hives, info)
		cfgs = append(cfgs, Config{Server: "registry", Path: info.Path})
	}
	return hives, cfgs
}

// parseRegistryBytes is ParseBytes for a hive already read.
func parseRegistryBytes(r sysroot, hostPath, src string, data []byte) Inventory {
	p := &parser{root: r, server: "registry"}
	return p.registryInventory(src, func() (RegistryHive, error) {
		return p.hiveRegistry(bytes.NewReader(data), int64(len(data)), hostPath, src, false)
	}, func() string {
		sum := blake3.Sum256(data)
		return hex.EncodeToString(sum[:])
	})
}

func (p *parser) registryInventory(src string, read func() (RegistryHive, error), digest func() string) (inv Inventory) {
	inv = Inventory{Server: "registry", Source: src, Files: []string{src}}
	defer func() {
		if v := recover(); v != nil { // a reader bug must not take the monitor down
			inv.Err = &ParseError{File: src, Msg: "internal registry reader error"}
			inv.Items = []Item{unparsableItem("registry", inv.Err, "")}
		}
	}()
	info, err := read()
	if err == nil && p.overflow {
		err = errors.New("more than " + itoa(maxItems) + " items")
	}
	if err != nil {
		inv.Err = &ParseError{File: src, Msg: err.Error()}
		p.items = append(p.items, unparsableItem("registry", inv.Err, ""))
	}
	p.hashImages()
	inv.Items = p.items
	if inv.Items == nil {
		inv.Items = []Item{}
	}
	inv.Warnings = info.Warnings
	inv.BLAKE3 = digest()
	return inv
}

// hiveBLAKE3 is the digest of a hive file, read as a stream ("" if it
// cannot be read).
func hiveBLAKE3(name string) string {
	f, _, err := openHive(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// openHive opens a hive file, refusing what is not a regular file (a FIFO
// planted at a hive's path would block).
func openHive(name string) (*os.File, int64, error) {
	if fi, err := os.Stat(name); err != nil {
		return nil, 0, err
	} else if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", name)
	}
	return f, fi.Size(), nil
}

// hiveRegistry inventories a hive file into items of Source src; hostPath
// locates its transaction logs. With rootsOnly, it only finds which of the
// inventoried keys exist.
func (p *parser) hiveRegistry(r io.ReaderAt, size int64, hostPath, src string, rootsOnly bool) (RegistryHive, error) {
	info := RegistryHive{Hive: hiveNameOf(hostPath), Path: hostPath, Keys: []string{}}
	h, err := hive.Open(r, size)
	if err != nil {
		return info, err
	}
	st := hive.CheckLogs(h.Header(), hostPath)
	info.Logs = st.Logs
	if pr := st.Problem(); pr != "" {
		info.Warnings = append(info.Warnings, pr)
	}
	if d := h.Damage(); d != nil {
		info.Warnings = append(info.Warnings, "damaged hive, keys beyond the damage cannot be read: "+d.Error())
	}
	root, err := h.Root()
	if err != nil {
		return info, err
	}
	w := &regWalker{p: p, src: src, maxKeys: h.MaxKeys(), rootsOnly: rootsOnly}
	base, prefix := regKey(hiveKey{root}), ""
	switch {
	case hasSubkey(root, "Select"):
		info.Hive = "SYSTEM"
		sel, err := root.Subkey("Select")
		if err != nil {
			return info, err
		}
		cur, err := sel.Value("Current")
		if err != nil {
			return info, fmt.Errorf("resolving CurrentControlSet: %w", err)
		}
		d, err := cur.Data()
		if err != nil {
			return info, fmt.Errorf("resolving CurrentControlSet: %w", err)
		}
		s, err := hive.Strings(cur.Type(), d)
		n := 0
		if err == nil && cur.Type() == hive.DWord {
			n, _ = strconv.Atoi(s[0])
		}
		if n < 1 || n > 999 {
			return info, fmt.Errorf(`resolving CurrentControlSet: Select\Current is not a control set number (%s of %d bytes)`, cur.Type(), len(d))
		}
		info.ControlSet = fmt.Sprintf("ControlSet%03d", n)
		ccs, err := root.Subkey(info.ControlSet)
		if err != nil {
			return info, fmt.Errorf(`resolving CurrentControlSet (Select\Current = %d): %w`, n, err)
		}
		base, prefix = hiveKey{ccs}, `HKLM\SYSTEM\CurrentControlSet`
	case hasSubkey(root, "Microsoft"):
		info.Hive, prefix = "SOFTWARE", `HKLM\SOFTWARE`
	default:
		return info, errors.New("neither a SYSTEM hive (no Select key under its root) nor a SOFTWARE hive (no Microsoft key)")
	}
	w.inventory(base, prefix, info.Hive)
	info.Keys = w.found
	return info, w.err
}

// hiveNameOf guesses a hive from its file name, until its keys say.
func hiveNameOf(p string) string {
	base := p[strings.LastIndexAny(p, `/\`)+1:]
	for _, h := range hiveFiles {
		if strings.EqualFold(base, h) {
			return h
		}
	}
	return ""
}

func hasSubkey(k *hive.Key, name string) bool {
	_, err := k.Subkey(name)
	return err == nil
}

// liveMaxKeys bounds the keys read below the inventoried keys of the live
// registry (a hive file is bounded by its size).
const liveMaxKeys = 1 << 20

// regWalker collects the items below the registry roots of one hive.
type regWalker struct {
	p         *parser
	src       string // the Source of the items
	rootsOnly bool   // find the registry roots, do not read them
	maxKeys   int    // keys visited at most (a hive's capacity; a bound for the live registry)
	keys      int
	found     []string
	err       error // the first error that stopped the walk
}

type regPattern struct {
	segs    []string
	product string
}

// inventory finds the registry roots of hive below base, whose registry
// path is prefix, and walks them.
func (w *regWalker) inventory(base regKey, prefix, hiveName string) {
	var pats []regPattern
	for _, r := range registryRoots {
		if r.hive == hiveName {
			pats = append(pats, regPattern{strings.Split(strings.ToLower(r.pattern), `\`), r.product})
		}
	}
	w.find(base, prefix, pats)
}

// find descends from k along the patterns; a key where a pattern ends is a
// registry root, walked with the product of the first such pattern.
func (w *regWalker) find(k regKey, keyPath string, pats []regPattern) {
	for _, pt := range pats {
		if len(pt.segs) == 0 {
			w.found = append(w.found, keyPath)
			if !w.rootsOnly {
				w.walk(k, keyPath, pt.product, 0)
			}
			return
		}
	}
	for c, err := range k.subkeys() {
		if err != nil {
			w.fail(keyPath, err)
			return
		}
		name := strings.ToLower(c.keyName())
		var next []regPattern
		for _, pt := range pats {
			if ok, _ := path.Match(pt.segs[0], name); ok {
				next = append(next, regPattern{pt.segs[1:], pt.product})
			}
		}
		if len(next) > 0 {
			w.find(c, keyPath+`\`+c.keyName(), next)
		}
		if w.err != nil {
			return
		}
	}
}

// walk adds the items of the values of k and of every key below it.
func (w *regWalker) walk(k regKey, keyPath, product string, depth int) {
	if w.keys++; w.keys > w.maxKeys {
		w.err = fmt.Errorf("%s: more than %d keys below the inventoried keys: a subkey is listed more than once", keyPath, w.maxKeys)
		return
	}
	if depth > hive.MaxDepth {
		w.fail(keyPath, fmt.Errorf("more than %d levels deep", hive.MaxDepth))
		return
	}
	for v, err := range k.values() {
		if err != nil {
			w.fail(keyPath, err)
			break
		}
		for _, it := range registryItems(product, keyPath, v) {
			it.Source = w.src
			w.p.add(it)
		}
	}
	for c, err := range k.subkeys() {
		if err != nil {
			w.fail(keyPath, err)
			return
		}
		w.walk(c, keyPath+`\`+c.keyName(), product, depth+1)
		if w.err != nil {
			return
		}
	}
}

// fail records a key that cannot be read completely as an "unparsable"
// item of that key; the rest of the hive is still read.
func (w *regWalker) fail(keyPath string, err error) {
	w.p.add(Item{Kind: "unparsable", Name: keyPath, Scope: keyPath, Source: w.src, Attrs: map[string]string{"error": err.Error()}})
}

// maxDataAttr bounds the data kept in an item; longer data is kept as its
// start, length and digest, so that a change is still seen.
const maxDataAttr = 4096

// registryItems turns one value of the key keyPath, below a registry root
// of product, into inventory items (Source is set by the caller).
func registryItems(product, keyPath string, v regValue) []Item {
	name := v.name
	if name == "" {
		name = "(default)"
	}
	attrs := map[string]string{"product": product}
	it := Item{Kind: "registry_value", Name: name, Scope: keyPath, Type: v.typ.String(), Attrs: attrs}
	if v.err != nil {
		attrs["error"] = v.err.Error()
		return []Item{it}
	}
	strs, err := hive.Strings(v.typ, v.data)
	if err != nil {
		attrs["error"] = err.Error()
	}
	attrs["data"] = renderData(v.typ, strs, v.data)
	var texts []string
	if v.typ.IsString() {
		texts = strs
	}
	lowerKey := strings.ToLower(keyPath)
	switch {
	case strings.EqualFold(v.name, "Filter DLLs") && product == "iis":
		// one item per DLL, so that a filter added to the list is an item added
		var out []Item
		for _, s := range texts {
			for _, e := range strings.Split(s, ",") {
				if e = strings.TrimSpace(e); e == "" {
					continue
				}
				img := expandWindows(e)
				out = append(out, Item{Kind: "filter_dll", Name: e, Scope: keyPath, Type: it.Type, Image: img,
					Attrs: withRaw(map[string]string{"product": product, "value": v.name}, e, img)})
			}
		}
		return out
	case strings.EqualFold(v.name, "ServiceDll"):
		it.Kind = "service_dll"
		if len(texts) > 0 {
			it.Image = registryImage(texts[0], false)
		}
	case strings.EqualFold(v.name, "ImagePath"):
		it.Kind = "service_image"
		if len(texts) > 0 {
			it.Image = registryImage(texts[0], true)
		}
	case strings.HasSuffix(lowerKey, `\inetstp\components`):
		it.Kind = "iis_component"
	default:
		// the first absolute path named, else the first name: in
		// "rundll32.exe C:\x.dll,Entry" the DLL is what matters
		var bins []string
		for _, s := range texts {
			bins = append(bins, binaryPaths(s)...)
		}
		if i := slices.IndexFunc(bins, func(b string) bool { return pathStart(b) == 0 }); i >= 0 {
			it.Image = registryImage(bins[i], false)
		} else if len(bins) > 0 {
			it.Image = registryImage(bins[0], false)
		}
	}
	return []Item{it}
}

// renderData is how value data is kept in attrs.data: a string as it is,
// a REG_MULTI_SZ as a JSON array, a number in decimal, other data in hex;
// long data by its start, length and BLAKE3.
func renderData(t hive.Type, strs []string, data []byte) string {
	var s string
	switch {
	case t == hive.MultiSZ:
		if strs == nil {
			strs = []string{}
		}
		b, _ := json.Marshal(strs)
		s = string(b)
	case strs != nil:
		s = strs[0]
	default:
		s = hex.EncodeToString(data)
	}
	if len(s) <= maxDataAttr {
		return s
	}
	sum := blake3.Sum256(data)
	return fmt.Sprintf("%s... (%d bytes of data, blake3 %x)", s[:maxDataAttr], len(data), sum)
}

// binaryExtensions are the files a value's data is searched for.
var binaryExtensions = []string{".dll", ".exe", ".sys"}

// binaryPaths returns the paths of .dll, .exe and .sys files named in s,
// a command line, a list or a path: `C:\a.dll,C:\b.dll`,
// `"C:\Program Files\x\y.exe" -k`, `rundll32.exe C:\x.dll,Entry`.
func binaryPaths(s string) []string {
	var out []string
	lower := strings.ToLower(s)
	start := 0
	for i := 0; i < len(lower); i++ {
		ext := ""
		for _, e := range binaryExtensions {
			if strings.HasPrefix(lower[i:], e) {
				ext = e
				break
			}
		}
		if ext == "" {
			continue
		}
		end := i + len(ext)
		if end < len(lower) && !strings.ContainsRune(" \t\",;|)'", rune(lower[end])) {
			continue // "x.dll.bak", "x.dllhost"
		}
		seg := s[start:end]
		// the path starts after a character that cannot be in one
		if j := strings.LastIndexAny(seg, "\",;=|'"); j >= 0 {
			seg = seg[j+1:]
		}
		// ... at its drive letter, %VARIABLE% or \SystemRoot if it has
		// one, else after the last blank
		if k := pathStart(seg); k >= 0 {
			seg = seg[k:]
		} else if k := strings.LastIndexAny(seg, " \t"); k >= 0 {
			seg = seg[k+1:]
		}
		seg = strings.TrimSpace(seg)
		if len(seg) > len(ext) {
			out = append(out, seg)
		}
		start, i = end, end-1
	}
	return out
}

// pathStart returns where the first absolute Windows path in s starts, or
// -1.
func pathStart(s string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case i+2 < len(s) && s[i+1] == ':' && s[i+2] == '\\' && (s[i]|0x20 >= 'a' && s[i]|0x20 <= 'z'):
			return i
		case s[i] == '%', strings.HasPrefix(s[i:], `\\`), strings.HasPrefix(s[i:], `\??\`),
			len(s)-i >= 11 && strings.EqualFold(s[i:i+11], `\SystemRoot`):
			return i
		}
	}
	return -1
}

// registryImage turns the data of a path value into the path of the
// binary: the quoted or first binary of a command line (imagePath), with
// the kernel's spellings (\SystemRoot\, \??\, a path relative to the
// system root) and %VARIABLES% expanded.
func registryImage(s string, imagePath bool) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) {
		if q, _, ok := strings.Cut(s[1:], `"`); ok {
			s = q
		}
	} else if imagePath {
		if b := binaryPaths(s); len(b) > 0 {
			s = b[0]
		}
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, `\??\`):
		s = s[4:]
	case strings.HasPrefix(lower, `\systemroot\`):
		s = `%SystemRoot%` + s[len(`\systemroot`):]
	case imagePath && (strings.HasPrefix(lower, `system32\`) || strings.HasPrefix(lower, `syswow64\`)):
		s = `%SystemRoot%\` + s
	}
	return expandWindows(s)
}
