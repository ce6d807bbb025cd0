package serverconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"webfim/hive"
	"webfim/hive/hivetest"
)

const (
	systemHive   = "Windows/System32/config/SYSTEM"
	softwareHive = "Windows/System32/config/SOFTWARE"
	registryDir  = "testdata/registry"
)

// writeHive writes the hive made of the fixture spec base plus the specs
// given (texts, applied in turn) to root/rel.
func writeHive(t testing.TB, root, rel string, opt hivetest.Options, base string, specs ...string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(registryDir, base))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := hivetest.Parse(nil, string(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if tree, err = hivetest.Parse(tree, s); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := hivetest.WriteFile(p, tree, opt); err != nil {
		t.Fatal(err)
	}
}

// windowsImage is a sysroot with both hives and the binaries they name.
func windowsImage(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	writeHive(t, root, systemHive, hivetest.Options{}, "system.reg")
	writeHive(t, root, softwareHive, hivetest.Options{}, "software.reg")
	for rel, content := range map[string]string{
		"Windows/System32/inetsrv/iisw3adm.dll":                                   "MZ iisw3adm",
		"Windows/System32/inetsrv/sspifilt.dll":                                   "MZ sspifilt",
		"Windows/System32/svchost.exe":                                            "MZ svchost",
		"Windows/System32/termsrv.dll":                                            "MZ termsrv",
		"Program Files/Microsoft/Exchange Server/V15/Bin/MSExchangeTransport.exe": "MZ transport",
	} {
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// registryItemsOf parses both hives of an image.
func registryItemsOf(t testing.TB, root string) []Item {
	t.Helper()
	var items []Item
	for _, rel := range []string{systemHive, softwareHive} {
		inv := ParseFile(root, filepath.Join(root, filepath.FromSlash(rel)), "registry")
		if inv.Err != nil {
			t.Fatalf("%s: %v", rel, inv.Err)
		}
		items = append(items, inv.Items...)
	}
	return items
}

func findItem(items []Item, kind, scopeSuffix, name string) *Item {
	for i, it := range items {
		if it.Kind == kind && strings.HasSuffix(it.Scope, scopeSuffix) && strings.EqualFold(it.Name, name) {
			return &items[i]
		}
	}
	return nil
}

func TestRegistryInventory(t *testing.T) {
	root := windowsImage(t)
	inv := ParseFile(root, filepath.Join(root, systemHive), "")
	if inv.Server != "registry" || inv.Err != nil || inv.Source != "/"+systemHive || len(inv.Warnings) != 0 || len(inv.BLAKE3) != 64 {
		t.Fatalf("SYSTEM detected as %q, err %v, source %q, warnings %q, blake3 %q", inv.Server, inv.Err, inv.Source, inv.Warnings, inv.BLAKE3)
	}
	items := registryItemsOf(t, root)
	const ccs = `HKLM\SYSTEM\CurrentControlSet\Services\`
	want := []Item{
		{Server: "registry", Kind: "filter_dll", Name: `C:\Windows\System32\inetsrv\sspifilt.dll`, Scope: ccs + `W3SVC\Parameters`,
			Type: "REG_SZ", Image: `C:\Windows\System32\inetsrv\sspifilt.dll`, Source: "/" + systemHive,
			Attrs:       map[string]string{"product": "iis", "value": "Filter DLLs"},
			ImageBLAKE3: fileBLAKE3(t, root, "Windows/System32/inetsrv/sspifilt.dll")},
		{Server: "registry", Kind: "service_dll", Name: "ServiceDll", Scope: ccs + `W3SVC\Parameters`, Type: "REG_EXPAND_SZ",
			Image: `C:\Windows\system32\inetsrv\iisw3adm.dll`, Source: "/" + systemHive,
			Attrs:       map[string]string{"product": "iis", "data": `%windir%\system32\inetsrv\iisw3adm.dll`},
			ImageBLAKE3: fileBLAKE3(t, root, "Windows/System32/inetsrv/iisw3adm.dll")},
		{Server: "registry", Kind: "service_image", Name: "ImagePath", Scope: ccs + `W3SVC`, Type: "REG_EXPAND_SZ",
			Image: `C:\Windows\system32\svchost.exe`, Source: "/" + systemHive,
			Attrs:       map[string]string{"product": "iis", "data": `%SystemRoot%\system32\svchost.exe -k iissvcs`},
			ImageBLAKE3: fileBLAKE3(t, root, "Windows/System32/svchost.exe")},
		{Server: "registry", Kind: "registry_value", Name: "DependOnService", Scope: ccs + `W3SVC`, Type: "REG_MULTI_SZ",
			Source: "/" + systemHive, Attrs: map[string]string{"product": "iis", "data": `["HTTP","WAS"]`}},
		{Server: "registry", Kind: "registry_value", Name: "Start", Scope: ccs + `W3SVC`, Type: "REG_DWORD",
			Source: "/" + systemHive, Attrs: map[string]string{"product": "iis", "data": "2"}},
		{Server: "registry", Kind: "registry_value", Name: "Library", Scope: ccs + `W3SVC\Performance`, Type: "REG_SZ",
			Image: "w3ctrs.dll", Source: "/" + systemHive, Attrs: map[string]string{"product": "iis", "data": "w3ctrs.dll"}},
		{Server: "registry", Kind: "service_dll", Name: "ServiceDll", Scope: ccs + `TermService\Parameters`, Type: "REG_EXPAND_SZ",
			Image: `C:\Windows\System32\termsrv.dll`, Source: "/" + systemHive,
			Attrs:       map[string]string{"product": "termservice", "data": `%SystemRoot%\System32\termsrv.dll`},
			ImageBLAKE3: fileBLAKE3(t, root, "Windows/System32/termsrv.dll")},
		{Server: "registry", Kind: "service_image", Name: "ImagePath", Scope: ccs + `MSExchangeTransport`, Type: "REG_EXPAND_SZ",
			Image: `C:\Program Files\Microsoft\Exchange Server\V15\Bin\MSExchangeTransport.exe`, Source: "/" + systemHive,
			Attrs:       map[string]string{"product": "exchange", "data": `"C:\Program Files\Microsoft\Exchange Server\V15\Bin\MSExchangeTransport.exe"`},
			ImageBLAKE3: fileBLAKE3(t, root, "Program Files/Microsoft/Exchange Server/V15/Bin/MSExchangeTransport.exe")},
		{Server: "registry", Kind: "iis_component", Name: "ASPNET45", Scope: `HKLM\SOFTWARE\Microsoft\InetStp\Components`, Type: "REG_DWORD",
			Source: "/" + softwareHive, Attrs: map[string]string{"product": "iis", "data": "1"}},
		{Server: "registry", Kind: "registry_value", Name: "PathWWWRoot", Scope: `HKLM\SOFTWARE\Microsoft\InetStp`, Type: "REG_EXPAND_SZ",
			Source: "/" + softwareHive, Attrs: map[string]string{"product": "iis", "data": `%SystemDrive%\inetpub\wwwroot`}},
		{Server: "registry", Kind: "registry_value", Name: "ConfiguredVersion", Scope: `HKLM\SOFTWARE\Microsoft\ExchangeServer\v15\HubTransportRole`,
			Type: "REG_SZ", Source: "/" + softwareHive, Attrs: map[string]string{"product": "exchange", "data": "15.2.1118.7"}},
	}
	for _, w := range want {
		got := findItem(items, w.Kind, w.Scope, w.Name)
		if got == nil {
			t.Errorf("no %s %q in %s", w.Kind, w.Name, w.Scope)
			continue
		}
		if d := cmp.Diff(w, *got); d != "" {
			t.Errorf("%s %q (-want +got):\n%s", w.Kind, w.Name, d)
		}
	}
	// only the inventoried keys of the current control set are read
	for _, it := range items {
		if strings.Contains(it.Scope, "Tcpip") || strings.Contains(it.Scope, "ControlSet002") || strings.Contains(it.Scope, "Windows NT") ||
			strings.Contains(it.Scope, `ExchangeServer\v15\Setup`) {
			t.Errorf("item outside the inventoried keys: %+v", it)
		}
	}
	if n := len(items); n != 23 {
		for _, it := range items {
			t.Logf("%s %s %s", it.Kind, it.Scope, it.Name)
		}
		t.Errorf("%d items, want 23", n)
	}
}

func TestRegistryControlSet(t *testing.T) {
	root := windowsImage(t)
	writeHive(t, root, systemHive, hivetest.Options{}, "system.reg", "[Select]\nCurrent = REG_DWORD 2")
	items := registryItemsOf(t, root)
	it := findItem(items, "service_dll", `W3SVC\Parameters`, "ServiceDll")
	if it == nil || it.Image != `C:\old\iisw3adm.dll` || it.Scope != `HKLM\SYSTEM\CurrentControlSet\Services\W3SVC\Parameters` {
		t.Fatalf("with Select\\Current = 2 the ServiceDll of ControlSet002 should be read: %+v", it)
	}
	for _, spec := range []string{"[Select]\nCurrent = REG_DWORD 7", "[Select]\nCurrent = REG_SZ 1", "[Select]\nCurrent = -"} {
		writeHive(t, root, systemHive, hivetest.Options{}, "system.reg", spec)
		inv := ParseFile(root, filepath.Join(root, systemHive), "registry")
		if inv.Err == nil || !strings.Contains(inv.Err.Msg, "CurrentControlSet") || inv.Items[len(inv.Items)-1].Kind != "unparsable" {
			t.Errorf("%q: err %v", spec, inv.Err)
		}
	}
	os.WriteFile(filepath.Join(root, systemHive), []byte("regf but not really"), 0o644)
	if inv := ParseFile(root, filepath.Join(root, systemHive), ""); inv.Server != "registry" || inv.Err == nil || !strings.Contains(inv.Err.Msg, "too short") {
		t.Fatalf("a broken hive: %+v", inv)
	}
}

// The attacks of issue 15, each replayed on a fresh image: what Diff says.
func TestRegistryAttacks(t *testing.T) {
	const ccs = `HKLM\SYSTEM\CurrentControlSet\Services\`
	cases := []struct {
		name, hive, spec string
		want             func(root string) []Change
	}{
		{"new Filter DLLs entry", systemHive,
			"[ControlSet001\\Services\\W3SVC\\Parameters]\n\"Filter DLLs\" = REG_SZ C:\\Windows\\System32\\inetsrv\\sspifilt.dll, C:\\Windows\\Temp\\iisfilt.dll",
			func(root string) []Change {
				return []Change{{Kind: ItemAdded, New: &Item{Server: "registry", Kind: "filter_dll", Name: `C:\Windows\Temp\iisfilt.dll`,
					Scope: ccs + `W3SVC\Parameters`, Type: "REG_SZ", Image: `C:\Windows\Temp\iisfilt.dll`, Source: "/" + systemHive,
					Attrs: map[string]string{"product": "iis", "value": "Filter DLLs"}, ImageBLAKE3: fileBLAKE3(t, root, "Windows/Temp/iisfilt.dll")}}}
			}},
		{"changed TermService ServiceDll", systemHive,
			"[ControlSet001\\Services\\TermService\\Parameters]\nServiceDll = REG_EXPAND_SZ %SystemRoot%\\Temp\\termsrv32.dll",
			func(root string) []Change {
				old := Item{Server: "registry", Kind: "service_dll", Name: "ServiceDll", Scope: ccs + `TermService\Parameters`, Type: "REG_EXPAND_SZ",
					Image: `C:\Windows\System32\termsrv.dll`, Source: "/" + systemHive,
					Attrs:       map[string]string{"product": "termservice", "data": `%SystemRoot%\System32\termsrv.dll`},
					ImageBLAKE3: fileBLAKE3(t, root, "Windows/System32/termsrv.dll")}
				new := old
				new.Image, new.Attrs = `C:\Windows\Temp\termsrv32.dll`, map[string]string{"product": "termservice", "data": `%SystemRoot%\Temp\termsrv32.dll`}
				new.ImageBLAKE3 = fileBLAKE3(t, root, "Windows/Temp/termsrv32.dll")
				return []Change{{Kind: ItemChanged, Fields: []string{"image", "image_blake3", "attrs.data"}, Old: &old, New: &new}}
			}},
		{"new MSExchangeTransport agent path", systemHive,
			"[ControlSet001\\Services\\MSExchangeTransport\\Agents\\Contoso]\nAssemblyPath = REG_SZ C:\\ProgramData\\Contoso\\Contoso.Agent.dll",
			func(root string) []Change {
				return []Change{{Kind: ItemAdded, New: &Item{Server: "registry", Kind: "registry_value", Name: "AssemblyPath",
					Scope: ccs + `MSExchangeTransport\Agents\Contoso`, Type: "REG_SZ", Image: `C:\ProgramData\Contoso\Contoso.Agent.dll`,
					Source: "/" + systemHive, Attrs: map[string]string{"product": "exchange", "data": `C:\ProgramData\Contoso\Contoso.Agent.dll`},
					ImageBLAKE3: fileBLAKE3(t, root, "ProgramData/Contoso/Contoso.Agent.dll")}}}
			}},
		{"new InetStp component", softwareHive,
			"[Microsoft\\InetStp\\Components]\nISAPIFilter = REG_DWORD 1",
			func(root string) []Change {
				return []Change{{Kind: ItemAdded, New: &Item{Server: "registry", Kind: "iis_component", Name: "ISAPIFilter",
					Scope: `HKLM\SOFTWARE\Microsoft\InetStp\Components`, Type: "REG_DWORD", Source: "/" + softwareHive,
					Attrs: map[string]string{"product": "iis", "data": "1"}}}}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := windowsImage(t)
			for _, rel := range []string{"Windows/Temp/iisfilt.dll", "Windows/Temp/termsrv32.dll", "ProgramData/Contoso/Contoso.Agent.dll"} {
				p := filepath.Join(root, filepath.FromSlash(rel))
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte("MZ planted "+rel), 0o644)
			}
			old := registryItemsOf(t, root)
			base := map[string]string{systemHive: "system.reg", softwareHive: "software.reg"}[c.hive]
			writeHive(t, root, c.hive, hivetest.Options{Layout: 9}, base, c.spec)
			got := Diff(old, registryItemsOf(t, root))
			if d := cmp.Diff(c.want(root), got, cmpopts.IgnoreFields(Change{}, "Note")); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// A hive Windows rewrote (same keys and values, cells elsewhere, lists of
// other kinds, other timestamps and value order) is no change.
func TestRegistryRewrittenHive(t *testing.T) {
	root := windowsImage(t)
	old := registryItemsOf(t, root)
	for layout := int64(1); layout <= 12; layout++ {
		before, _ := os.ReadFile(filepath.Join(root, systemHive))
		writeHive(t, root, systemHive, hivetest.Options{Layout: layout}, "system.reg")
		writeHive(t, root, softwareHive, hivetest.Options{Layout: layout}, "software.reg")
		after, _ := os.ReadFile(filepath.Join(root, systemHive))
		if string(before) == string(after) {
			t.Fatalf("layout %d wrote the same bytes", layout)
		}
		if c := Diff(old, registryItemsOf(t, root)); len(c) != 0 {
			t.Fatalf("layout %d: %d changes, first %+v", layout, len(c), c[0])
		}
	}
	// the same with another implementation: hivexsh sets every value of
	// W3SVC\Parameters again, which hivex writes into new cells
	if _, err := exec.LookPath("hivexsh"); err != nil {
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("hivexsh not installed (apt-get install libhivex-bin) and WEBFIM_REQUIRE_INTEGRATION=1")
		}
		t.Skip("hivexsh not installed (apt-get install libhivex-bin): the rewrite by another implementation is not checked")
	}
	cmd := exec.Command("hivexsh", "-w", filepath.Join(root, systemHive))
	cmd.Stdin = strings.NewReader(`cd \ControlSet001\Services\W3SVC\Parameters
setval 2
ServiceDll
expandstring:%windir%\system32\inetsrv\iisw3adm.dll
Filter DLLs
string:C:\Windows\System32\inetsrv\sspifilt.dll
commit
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hivexsh: %v: %s", err, out)
	}
	if c := Diff(old, registryItemsOf(t, root)); len(c) != 0 {
		t.Fatalf("after hivexsh rewrote the values: %+v", c)
	}
}

func TestRegistryBinaryReplaced(t *testing.T) {
	root := windowsImage(t)
	old := registryItemsOf(t, root)
	os.WriteFile(filepath.Join(root, "Windows/System32/termsrv.dll"), []byte("MZ trojaned"), 0o644)
	got := Diff(old, registryItemsOf(t, root))
	if len(got) != 1 || got[0].Kind != ItemChanged || !slices.Equal(got[0].Fields, []string{"image_blake3"}) ||
		!strings.Contains(got[0].Note, `the binary C:\Windows\System32\termsrv.dll was replaced`) {
		t.Fatalf("%+v", got)
	}
}

func TestRegistryDirtyHive(t *testing.T) {
	root := windowsImage(t)
	writeHive(t, root, systemHive, hivetest.Options{PrimarySequence: 9, SecondarySequence: 8}, "system.reg")
	os.WriteFile(filepath.Join(root, "Windows/System32/config/SYSTEM.LOG1"), hivetest.Log(9, 9, 8), 0o644)
	inv := ParseFile(root, filepath.Join(root, systemHive), "registry")
	if inv.Err != nil || len(inv.Warnings) != 1 || !strings.Contains(inv.Warnings[0], "dirty hive (sequence numbers 9 and 8 differ)") ||
		!strings.Contains(inv.Warnings[0], "SYSTEM.LOG1") {
		t.Fatalf("err %v, warnings %q", inv.Err, inv.Warnings)
	}
	if findItem(inv.Items, "service_dll", `TermService\Parameters`, "ServiceDll") == nil {
		t.Fatal("a dirty hive is still read")
	}
}

// A key whose lists are damaged is reported by an "unparsable" item of
// that key, and the rest of the hive is still read.
func TestRegistryDamagedKey(t *testing.T) {
	root := windowsImage(t)
	p := filepath.Join(root, systemHive)
	data, _ := os.ReadFile(p)
	h, err := hive.Open(strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := h.Root()
	k, err := r.Path(`ControlSet001\Services\WAS`)
	if err != nil {
		t.Fatal(err)
	}
	valueList := int64(le32(data[k.Offset()+4+0x28:])) + 4096 + 4
	copy(data[valueList-4:], []byte{0x10, 0, 0, 0}) // the value list's cell is now free
	os.WriteFile(p, data, 0o644)
	inv := ParseFile(root, p, "registry")
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	bad := findItem(inv.Items, "unparsable", `Services\WAS`, `HKLM\SYSTEM\CurrentControlSet\Services\WAS`)
	if bad == nil || !strings.Contains(bad.Attrs["error"], "hive offset 0x") || !strings.Contains(bad.Attrs["error"], "not allocated") {
		t.Fatalf("no unparsable item for the damaged key: %+v", inv.Items)
	}
	if findItem(inv.Items, "service_dll", `TermService\Parameters`, "ServiceDll") == nil || findItem(inv.Items, "service_dll", `WAS\Parameters`, "ServiceDll") == nil {
		t.Fatal("the rest of the hive was not read")
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestBinaryPaths(t *testing.T) {
	for in, want := range map[string][]string{
		`C:\a.dll,C:\b.dll`:                                          {`C:\a.dll`, `C:\b.dll`},
		`"C:\Program Files\My App\svc.exe" -k x`:                     {`C:\Program Files\My App\svc.exe`},
		`%SystemRoot%\system32\svchost.exe -k iissvcs`:               {`%SystemRoot%\system32\svchost.exe`},
		`rundll32.exe C:\Users\Public\x.dll,Start`:                   {`rundll32.exe`, `C:\Users\Public\x.dll`},
		`\SystemRoot\System32\drivers\http.sys`:                      {`\SystemRoot\System32\drivers\http.sys`},
		`cmd /c C:\Windows\Temp\a.exe`:                               {`C:\Windows\Temp\a.exe`},
		`C:\x.dll.bak`:                                               nil,
		`w3ctrs.dll`:                                                 {`w3ctrs.dll`},
		`.dll`:                                                       nil,
		`%ProgramFiles%\Vendor\%Sub%\a.DLL`:                          {`%ProgramFiles%\Vendor\%Sub%\a.DLL`},
		`\\fileserver\share\implant.dll`:                             {`\\fileserver\share\implant.dll`},
		`"C:\a b\c.exe" "C:\d e\f.dll"`:                              {`C:\a b\c.exe`, `C:\d e\f.dll`},
		`no binaries here, just C:\inetpub\wwwroot and 10 instances`: nil,
	} {
		if got := binaryPaths(in); !slices.Equal(got, want) {
			t.Errorf("binaryPaths(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		in        string
		imagePath bool
		want      string
	}{
		{`%SystemRoot%\system32\svchost.exe -k iissvcs`, true, `C:\Windows\system32\svchost.exe`},
		{`\SystemRoot\System32\drivers\http.sys`, true, `C:\Windows\System32\drivers\http.sys`},
		{`system32\DRIVERS\evil.sys`, true, `C:\Windows\system32\DRIVERS\evil.sys`},
		{`\??\C:\Windows\Temp\x.sys`, true, `C:\Windows\Temp\x.sys`},
		{`"C:\Program Files\x\y.exe" /run`, true, `C:\Program Files\x\y.exe`},
		{`%windir%\system32\inetsrv\iisw3adm.dll`, false, `C:\Windows\system32\inetsrv\iisw3adm.dll`},
	} {
		if got := registryImage(c.in, c.imagePath); got != c.want {
			t.Errorf("registryImage(%q, %v) = %q, want %q", c.in, c.imagePath, got, c.want)
		}
	}
}

func TestRegistryDataRendering(t *testing.T) {
	long := strings.Repeat("x", 5000)
	items := registryItems("iis", `HKLM\SOFTWARE\Microsoft\InetStp`, regValue{name: "Long", typ: hive.SZ, data: hivetest.SZ("", long).Data})
	if d := items[0].Attrs["data"]; len(d) > maxDataAttr+200 || !strings.Contains(d, "(10002 bytes of data, blake3 ") {
		t.Fatalf("long data kept as %d bytes: %.80q...", len(d), d)
	}
	items = registryItems("iis", `HKLM\SOFTWARE\Microsoft\InetStp`, regValue{name: "", typ: hive.Binary, data: []byte{1, 0xff}})
	if items[0].Name != "(default)" || items[0].Attrs["data"] != "01ff" || items[0].Type != "REG_BINARY" {
		t.Fatalf("%+v", items[0])
	}
	items = registryItems("exchange", `HKLM\X`, regValue{name: "Run", typ: hive.SZ, data: hivetest.SZ("", `rundll32.exe C:\Users\Public\x.dll,Start`).Data})
	if items[0].Image != `C:\Users\Public\x.dll` {
		t.Fatalf("image of a rundll32 command line: %q", items[0].Image)
	}
	items = registryItems("iis", `HKLM\X`, regValue{name: "Big", typ: hive.Binary, err: hive.ErrTooLarge})
	if items[0].Attrs["error"] == "" {
		t.Fatalf("%+v", items[0])
	}
}

func TestDiscoverRegistry(t *testing.T) {
	root := windowsImage(t)
	// an NTFS volume mounted case-sensitively
	os.Rename(filepath.Join(root, "Windows/System32/config"), filepath.Join(root, "Windows/System32/CONFIG"))
	d, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	var regs []Config
	for _, c := range d.Configs {
		if c.Server == "registry" {
			regs = append(regs, c)
		}
	}
	if len(regs) != 2 || regs[0].Path != filepath.Join(root, "Windows/System32/CONFIG/SYSTEM") {
		t.Fatalf("registry configs %+v", regs)
	}
	if len(d.Registry) != 2 {
		t.Fatalf("registry %+v", d.Registry)
	}
	sys, soft := d.Registry[0], d.Registry[1]
	wantKeys := []string{`HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeTransport`, `HKLM\SYSTEM\CurrentControlSet\Services\TermService`,
		`HKLM\SYSTEM\CurrentControlSet\Services\W3SVC`, `HKLM\SYSTEM\CurrentControlSet\Services\WAS`}
	if sys.Hive != "SYSTEM" || sys.ControlSet != "ControlSet001" || !slices.Equal(sys.Keys, wantKeys) || sys.Error != "" {
		t.Fatalf("SYSTEM %+v", sys)
	}
	if soft.Hive != "SOFTWARE" || !slices.Equal(soft.Keys, []string{`HKLM\SOFTWARE\Microsoft\ExchangeServer\v15\HubTransportRole`, `HKLM\SOFTWARE\Microsoft\InetStp`}) {
		t.Fatalf("SOFTWARE %+v", soft)
	}
}

func FuzzParseRegistry(f *testing.F) {
	dir := f.TempDir()
	var seeds []string
	for i, spec := range []string{"[Select]\nCurrent = REG_DWORD 1\n[ControlSet001\\Services\\W3SVC\\Parameters]\nServiceDll = REG_EXPAND_SZ %windir%\\x.dll\n\"Filter DLLs\" = REG_SZ a.dll,b.dll",
		"[Microsoft\\InetStp\\Components]\nW3SVC = REG_DWORD 1\n[Microsoft\\ExchangeServer\\v15\\HubTransportRole]\nP = REG_MULTI_SZ C:\\a.exe|x"} {
		tree, err := hivetest.Parse(nil, spec)
		if err != nil {
			f.Fatal(err)
		}
		p := filepath.Join(dir, "seed"+string(rune('0'+i)))
		if err := hivetest.WriteFile(p, tree, hivetest.Options{Layout: int64(i)}); err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, p)
	}
	fuzzParser(f, "registry", seeds...)
}
