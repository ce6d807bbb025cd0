package serverconf

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"webfim/hive/hivetest"
)

// bigSystemHive writes a SYSTEM hive of about 200 MB: 95,000 services
// the inventory must enumerate but not read (each with a description,
// an image path, a Parameters key), and under W3SVC 20,000 values naming
// DLLs, which it must turn into items.
func bigSystemHive(tb testing.TB, path string) int64 {
	root := &hivetest.Key{Name: "ROOT"}
	root.Key("Select").Set(hivetest.DWord("Current", 1))
	services := root.Key(`ControlSet001\Services`)
	desc := strings.Repeat("A service that does nothing in particular, for the benchmark. ", 9)
	for i := 0; i < 95000; i++ {
		s := &hivetest.Key{Name: fmt.Sprintf("Filler%06d", i)}
		s.Values = []hivetest.Value{
			hivetest.ExpandSZ("ImagePath", fmt.Sprintf(`%%SystemRoot%%\system32\filler%06d.exe -service`, i)),
			hivetest.SZ("Description", desc),
			hivetest.DWord("Start", 3),
		}
		s.Subkeys = []*hivetest.Key{{Name: "Parameters", Values: []hivetest.Value{
			hivetest.SZ("Setting", strings.Repeat("x", 200)),
		}}}
		services.Subkeys = append(services.Subkeys, s)
	}
	w3 := services.Key(`W3SVC\Parameters`)
	for i := 0; i < 20000; i++ {
		w3.Values = append(w3.Values, hivetest.SZ(fmt.Sprintf("Module%05d", i), fmt.Sprintf(`C:\Windows\System32\inetsrv\mod%05d.dll`, i)))
	}
	services.Key(`TermService\Parameters`).Set(hivetest.ExpandSZ("ServiceDll", `%SystemRoot%\System32\termsrv.dll`))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := hivetest.WriteFile(path, root, hivetest.Options{}); err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkRegistryInventory200MB inventories a 200 MB SYSTEM hive in a
// child process, which reports its peak RSS: memory is bounded by the
// items found, not by the hive's size. Run it alone:
//
//	go test ./serverconf -run '^$' -bench RegistryInventory200MB -benchtime 3x
func BenchmarkRegistryInventory200MB(b *testing.B) {
	root := b.TempDir()
	start := time.Now()
	size := bigSystemHive(b, filepath.Join(root, systemHive))
	b.Logf("wrote a %.0f MB SYSTEM hive in %v", float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	var rss, items float64
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRegistryInventoryChild$", "-test.v")
		cmd.Env = append(os.Environ(), "WEBFIM_REGISTRY_CHILD="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		found := false
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "registry-inventory" {
				items, _ = strconv.ParseFloat(f[1], 64)
				kb, _ := strconv.ParseFloat(f[2], 64)
				rss = max(rss, kb/1024)
				found = true
			}
		}
		if !found {
			b.Fatalf("child printed no result:\n%s", out)
		}
	}
	b.ReportMetric(rss, "peak-RSS-MB")
	b.ReportMetric(items, "items")
	b.ReportMetric(float64(size)/1e6, "hive-MB")
	b.Logf("inventoried a %.0f MB hive: %.0f items, peak RSS %.1f MB (child process, GOGC=400 and a 128 MiB soft limit as the CLI)", float64(size)/1e6, items, rss)
}

// TestRegistryInventoryChild is the child of the benchmark: it runs only
// when the benchmark starts it.
func TestRegistryInventoryChild(t *testing.T) {
	root := os.Getenv("WEBFIM_REGISTRY_CHILD")
	if root == "" {
		t.Skip("the child process of BenchmarkRegistryInventory200MB")
	}
	debug.SetGCPercent(400) // as the CLI (cmd/webfim tuneGC)
	debug.SetMemoryLimit(128 << 20)
	inv := ParseFile(root, filepath.Join(root, systemHive), "registry")
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	if len(inv.Items) < 20000 {
		t.Fatalf("%d items: %+v", len(inv.Items), inv.Items)
	}
	// VmHWM, not getrusage: ru_maxrss survives execve and would report
	// the parent's peak (it wrote the hive) when the child started.
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	hwm := ""
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			hwm = f[1] // kB
		}
	}
	if hwm == "" {
		t.Fatal("no VmHWM in /proc/self/status")
	}
	fmt.Printf("registry-inventory %d %s\n", len(inv.Items), hwm)
}
