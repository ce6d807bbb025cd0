package hive_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"webfim/hive"
	"webfim/hive/hivetest"
)

// sample is a tree with every value type, big data, empty data, names
// that need UTF-16, a key with many subkeys (split lists) and a deep path.
func sample() *hivetest.Key {
	root := &hivetest.Key{Name: "ROOT"}
	root.Key(`Select`).Set(hivetest.DWord("Current", 1))
	p := root.Key(`ControlSet001\Services\W3SVC\Parameters`)
	p.Set(hivetest.SZ("Filter DLLs", `C:\Windows\System32\inetsrv\a.dll,C:\b.dll`))
	p.Set(hivetest.ExpandSZ("ServiceDll", `%windir%\system32\inetsrv\iisw3adm.dll`))
	p.Set(hivetest.MultiSZ("DependOnService", "HTTP", "WAS"))
	p.Set(hivetest.DWord("Start", 3))
	p.Set(hivetest.QWord("Big", 1<<40))
	p.Set(hivetest.Bin("Empty", nil))
	p.Set(hivetest.Bin("Blob", bytes.Repeat([]byte{0xab, 0xcd, 0xef}, 15000))) // 45000 bytes: big data
	p.Set(hivetest.SZ("", "default value"))
	p.Set(hivetest.SZ("Ünïcødé", "latin-1 name"))
	p.Set(hivetest.SZ("日本語", "UTF-16 name"))
	svc := root.Key(`ControlSet001\Services`)
	for i := 0; i < 300; i++ {
		svc.Key("Svc" + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + itoa(i)).Set(hivetest.DWord("Start", uint32(i)))
	}
	deep := root.Key(`Deep`)
	for i := 0; i < 40; i++ {
		deep = deep.Key("L" + itoa(i))
	}
	deep.Set(hivetest.SZ("Leaf", "bottom"))
	return root
}

func itoa(i int) string { return strconv.Itoa(i) }

func build(t testing.TB, root *hivetest.Key, opt hivetest.Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := hivetest.Write(&b, root, opt); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func open(t testing.TB, data []byte) *hive.Hive {
	t.Helper()
	h, err := hive.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// dump reads the whole tree back into hivetest form, keys and values
// sorted by name, so that two layouts of one tree compare equal.
func dump(t testing.TB, h *hive.Hive) *hivetest.Key {
	t.Helper()
	root, err := h.Root()
	if err != nil {
		t.Fatal(err)
	}
	var read func(k *hive.Key) *hivetest.Key
	read = func(k *hive.Key) *hivetest.Key {
		out := &hivetest.Key{Name: k.Name()}
		for v, err := range k.Values() {
			if err != nil {
				t.Fatal(err)
			}
			d, err := v.Data()
			if err != nil {
				t.Fatal(err)
			}
			out.Values = append(out.Values, hivetest.Value{Name: v.Name(), Type: v.Type(), Data: d})
		}
		for c, err := range k.Subkeys() {
			if err != nil {
				t.Fatal(err)
			}
			out.Subkeys = append(out.Subkeys, read(c))
		}
		return out
	}
	return canonical(read(root))
}

func canonical(k *hivetest.Key) *hivetest.Key {
	out := &hivetest.Key{Name: k.Name, Values: slices.Clone(k.Values)}
	slices.SortFunc(out.Values, func(a, b hivetest.Value) int { return strings.Compare(a.Name, b.Name) })
	for i := range out.Values {
		if out.Values[i].Data == nil {
			out.Values[i].Data = []byte{}
		}
	}
	for _, c := range k.Subkeys {
		out.Subkeys = append(out.Subkeys, canonical(c))
	}
	slices.SortFunc(out.Subkeys, func(a, b *hivetest.Key) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// diffTrees says where two canonical trees first differ (cmp.Diff is
// too slow on the 45 kB blob).
func diffTrees(a, b *hivetest.Key) string {
	if a.Name != b.Name {
		return fmt.Sprintf("key %q != %q", a.Name, b.Name)
	}
	if len(a.Values) != len(b.Values) {
		return fmt.Sprintf("key %q: %d values != %d", a.Name, len(a.Values), len(b.Values))
	}
	for i := range a.Values {
		va, vb := a.Values[i], b.Values[i]
		if va.Name != vb.Name || va.Type != vb.Type || !bytes.Equal(va.Data, vb.Data) {
			return fmt.Sprintf("key %q: value %q %s (%d bytes) != %q %s (%d bytes)", a.Name, va.Name, va.Type, len(va.Data), vb.Name, vb.Type, len(vb.Data))
		}
	}
	if len(a.Subkeys) != len(b.Subkeys) {
		return fmt.Sprintf("key %q: %d subkeys != %d", a.Name, len(a.Subkeys), len(b.Subkeys))
	}
	for i := range a.Subkeys {
		if d := diffTrees(a.Subkeys[i], b.Subkeys[i]); d != "" {
			return d
		}
	}
	return ""
}

// Every layout of the same tree reads back as that tree.
func TestRoundTripLayouts(t *testing.T) {
	want := canonical(sample())
	for layout := int64(0); layout < 24; layout++ {
		data := build(t, sample(), hivetest.Options{Layout: layout})
		got := dump(t, open(t, data))
		if d := diffTrees(want, got); d != "" {
			t.Fatalf("layout %d: %s", layout, d)
		}
	}
	a := build(t, sample(), hivetest.Options{Layout: 0})
	b := build(t, sample(), hivetest.Options{Layout: 5})
	if bytes.Equal(a, b) {
		t.Fatal("layouts 0 and 5 wrote the same bytes: the layout test proves nothing")
	}
}

func TestHeader(t *testing.T) {
	data := build(t, sample(), hivetest.Options{PrimarySequence: 12, SecondarySequence: 11, FileName: `\SystemRoot\System32\Config\SYSTEM`})
	h := open(t, data)
	hd := h.Header()
	if hd.PrimarySequence != 12 || hd.SecondarySequence != 11 || !hd.Dirty() || !hd.ChecksumOK || hd.Major != 1 || hd.Minor != 5 {
		t.Fatalf("header %+v", hd)
	}
	if hd.FileName != `stemRoot\System32\Config\SYSTEM` {
		t.Fatalf("file name %q", hd.FileName)
	}
	if hd.LastWritten.Year() != 2026 {
		t.Fatalf("last written %v", hd.LastWritten)
	}
	clean := open(t, build(t, sample(), hivetest.Options{}))
	if clean.Header().Dirty() {
		t.Fatal("a clean hive is dirty")
	}
	data[0x100] ^= 1 // header checksum no longer matches
	if h := open(t, data); h.Header().ChecksumOK || !h.Header().Dirty() {
		t.Fatal("checksum mismatch not noticed")
	}
}

func TestLookup(t *testing.T) {
	h := open(t, build(t, sample(), hivetest.Options{Layout: 3}))
	root, _ := h.Root()
	k, err := root.Path(`controlset001\SERVICES\w3svc\Parameters`)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name() != "Parameters" {
		t.Fatalf("name %q", k.Name())
	}
	v, err := k.Value("filter dlls")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := v.Data()
	s, err := hive.Strings(v.Type(), d)
	if err != nil || len(s) != 1 || s[0] != `C:\Windows\System32\inetsrv\a.dll,C:\b.dll` || v.Type().String() != "REG_SZ" {
		t.Fatalf("Filter DLLs = %q %v (%s)", s, err, v.Type())
	}
	if _, err := k.Value("nope"); !errors.Is(err, hive.ErrNotFound) {
		t.Fatalf("missing value: %v", err)
	}
	if _, err := root.Path(`ControlSet001\Services\Nope`); !errors.Is(err, hive.ErrNotFound) || !strings.Contains(err.Error(), `"Nope"`) {
		t.Fatalf("missing key: %v", err)
	}
	n := 0
	if err := root.Walk(func(path []string, k *hive.Key) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 347 { // root, Select, ControlSet001, Services, 300 services, W3SVC, Parameters, Deep and 40 below
		t.Fatalf("walk visited %d keys", n)
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct {
		v    hivetest.Value
		want []string
	}{
		{hivetest.SZ("a", "x"), []string{"x"}},
		{hivetest.ExpandSZ("a", "%windir%"), []string{"%windir%"}},
		{hivetest.MultiSZ("a", "one", "two"), []string{"one", "two"}},
		{hivetest.Value{Type: hive.MultiSZ, Data: []byte{'a', 0, 0, 0, 'b', 0, 0, 0, 0, 0}}, []string{"a", "b"}},
		{hivetest.Value{Type: hive.MultiSZ, Data: []byte{'a', 0, 'b'}}, []string{"ab"[:1]}}, // odd byte dropped
		{hivetest.Value{Type: hive.SZ, Data: []byte{'a', 0, 0, 0, 'b', 0}}, []string{"a"}},
		{hivetest.DWord("a", 7), []string{"7"}},
		{hivetest.QWord("a", 1<<40), []string{"1099511627776"}},
		{hivetest.Value{Type: hive.DWordBigEndian, Data: []byte{0, 0, 1, 0}}, []string{"256"}},
		{hivetest.Bin("a", []byte{1}), nil},
	} {
		got, err := hive.Strings(c.v.Type, c.v.Data)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Strings(%s, % x) = %q, %v; want %q", c.v.Type, c.v.Data, got, err, c.want)
		}
	}
	if _, err := hive.Strings(hive.DWord, []byte{1, 2}); err == nil {
		t.Error("a 2-byte DWORD decoded")
	}
	if hive.Type(0x42).String() != "REG_0x42" {
		t.Error(hive.Type(0x42).String())
	}
}

func TestCheckLogs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "SYSTEM")
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("SYSTEM", build(t, sample(), hivetest.Options{PrimarySequence: 40, SecondarySequence: 40}))
	write("system.log1", hivetest.Log(38, 38, 40)) // names compare case-insensitively
	write("SYSTEM.LOG2", nil)                      // empty: Windows keeps them around
	write("SYSTEM.LOG", []byte("garbage"))
	h := open(t, mustRead(t, path))
	st := hive.CheckLogs(h.Header(), path)
	if !st.Stale() {
		t.Fatalf("a log with an entry at the primary's sequence number is not pending: %+v", st)
	}
	if p := st.Problem(); !strings.Contains(p, "system.log1 holds changes not yet written") {
		t.Fatalf("problem: %q", p)
	}
	if len(st.Logs) != 3 || st.Logs[0].Err == "" || st.Logs[1].Format != "new" || st.Logs[1].Sequence != 40 || st.Logs[2].Size != 0 {
		t.Fatalf("logs %+v", st.Logs)
	}

	write("system.log1", hivetest.Log(30, 30, 33)) // older than the primary: already applied
	if st := hive.CheckLogs(h.Header(), path); st.Stale() || st.Problem() != "" {
		t.Fatalf("an applied log is pending: %+v", st)
	}

	write("SYSTEM", build(t, sample(), hivetest.Options{PrimarySequence: 41, SecondarySequence: 40}))
	h = open(t, mustRead(t, path))
	write("system.log1", hivetest.Log(41, 41, 40))
	p := hive.CheckLogs(h.Header(), path).Problem()
	if !strings.Contains(p, "dirty hive (sequence numbers 41 and 40 differ)") || !strings.Contains(p, "system.log1") {
		t.Fatalf("problem: %q", p)
	}
	os.Remove(filepath.Join(dir, "system.log1"))
	if p := hive.CheckLogs(h.Header(), path).Problem(); !strings.Contains(p, "no transaction log") {
		t.Fatalf("problem: %q", p)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hivex (libhivex-bin) is another implementation of the format: the hives
// hivetest writes must be valid for it, in every layout, and what hivexsh
// changes in one (new cells appended, lists rewritten) must read back.
func TestHivexInterop(t *testing.T) {
	if _, err := exec.LookPath("hivexsh"); err != nil {
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("hivexsh not installed (apt-get install libhivex-bin) and WEBFIM_REQUIRE_INTEGRATION=1")
		}
		t.Skip("hivexsh not installed (apt-get install libhivex-bin); this cross-check with another implementation is skipped")
	}
	dir := t.TempDir()
	for _, layout := range []int64{0, 1, 2, 3, 4} {
		path := filepath.Join(dir, "SYSTEM"+itoa(int(layout)))
		if err := hivetest.WriteFile(path, sample(), hivetest.Options{Layout: layout}); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("hivexget", path, `ControlSet001\Services\W3SVC\Parameters`, "Filter DLLs").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != `C:\Windows\System32\inetsrv\a.dll,C:\b.dll` {
			t.Fatalf("layout %d: hivexget: %v: %s", layout, err, out)
		}
		out, err = exec.Command("hivexget", path, `Deep\L0\L1\L2\L3\L4\L5\L6\L7\L8\L9\L10\L11\L12\L13\L14\L15\L16\L17\L18\L19\L20\L21\L22\L23\L24\L25\L26\L27\L28\L29\L30\L31\L32\L33\L34\L35\L36\L37\L38\L39`, "Leaf").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "bottom" {
			t.Fatalf("layout %d: hivexget deep: %v: %s", layout, err, out)
		}
		// hivexsh edits the hive in place: a new key, a new value, and a
		// value changed, written in its own way.
		script := `cd \ControlSet001\Services\W3SVC\Parameters
setval 1
Filter DLLs
string:C:\Windows\System32\inetsrv\a.dll,C:\b.dll,C:\evil.dll
cd \ControlSet001\Services
add Planted
cd Planted
setval 1
ImagePath
expandstring:%SystemRoot%\planted.exe
commit
`
		cmd := exec.Command("hivexsh", "-w", path)
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("layout %d: hivexsh: %v: %s", layout, err, out)
		}
		h := open(t, mustRead(t, path))
		root, _ := h.Root()
		k, err := root.Path(`ControlSet001\Services\Planted`)
		if err != nil {
			t.Fatalf("layout %d: key added by hivexsh: %v", layout, err)
		}
		v, err := k.Value("ImagePath")
		if err != nil {
			t.Fatal(err)
		}
		d, _ := v.Data()
		if s, _ := hive.Strings(v.Type(), d); len(s) != 1 || s[0] != `%SystemRoot%\planted.exe` || v.Type() != hive.ExpandSZ {
			t.Fatalf("layout %d: ImagePath = %q (%s)", layout, s, v.Type())
		}
		p, _ := root.Path(`ControlSet001\Services\W3SVC\Parameters`)
		v, _ = p.Value("Filter DLLs")
		d, _ = v.Data()
		if s, _ := hive.Strings(v.Type(), d); len(s) != 1 || !strings.HasSuffix(s[0], `,C:\evil.dll`) {
			t.Fatalf("layout %d: Filter DLLs = %q", layout, s)
		}
		n := 0
		if err := root.Walk(func([]string, *hive.Key) error { n++; return nil }); err != nil || n != 348 {
			t.Fatalf("layout %d: walk after hivexsh: %d keys, %v", layout, n, err)
		}
	}
}
