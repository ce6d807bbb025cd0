package policy

import (
	"strings"
	"testing"
	"time"

	"webfim/serverconf"
)

func TestEvaluateRegistryItem(t *testing.T) {
	p := Default()
	const ccs = `HKLM\SYSTEM\CurrentControlSet\Services\`
	reg := func(kind, product, scope, name, image string) *serverconf.Item {
		return &serverconf.Item{Server: "registry", Kind: kind, Name: name, Scope: scope, Image: image,
			Source: "/Windows/System32/config/SYSTEM", Attrs: map[string]string{"product": product}}
	}
	filterDLL := reg("filter_dll", "iis", ccs+`W3SVC\Parameters`, `C:\x.dll`, `C:\x.dll`)
	filterDLL.Attrs["value"] = "Filter DLLs"
	window := &Window{Label: "cu14", Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)}
	for _, c := range []struct {
		name     string
		change   serverconf.Change
		window   *Window
		rule     string
		severity Severity
		alert    bool
		reason   string
	}{
		{"new Filter DLLs entry", serverconf.Change{Kind: serverconf.ItemAdded, New: filterDLL},
			nil, RuleRegistryIISBinary, Critical, true, `registry filter dll HKLM\SYSTEM\CurrentControlSet\Services\W3SVC\Parameters\Filter DLLs entry C:\x.dll added in /Windows/System32/config/SYSTEM, image C:\x.dll outside any deploy window`},
		{"WAS ImagePath changed in a window", serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"image"},
			Old: reg("service_image", "iis", ccs+"WAS", "ImagePath", `C:\Windows\system32\svchost.exe`), New: reg("service_image", "iis", ccs+"WAS", "ImagePath", `C:\Temp\svc.exe`)},
			window, RuleRegistryIISBinary, Medium, true, "severity lowered to medium"},
		{"InetStp value naming a DLL", serverconf.Change{Kind: serverconf.ItemAdded, New: reg("registry_value", "iis", `HKLM\SOFTWARE\Microsoft\InetStp`, "Helper", `C:\h.dll`)},
			nil, RuleRegistryIISBinary, Critical, true, ""},
		{"TermService ServiceDll changed", serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"image"},
			Old: reg("service_dll", "termservice", ccs+`TermService\Parameters`, "ServiceDll", `C:\Windows\System32\termsrv.dll`),
			New: reg("service_dll", "termservice", ccs+`TermService\Parameters`, "ServiceDll", `C:\Windows\Temp\t.dll`)},
			nil, RuleTerminalServicesDLL, Critical, true, `registry service dll HKLM\SYSTEM\CurrentControlSet\Services\TermService\Parameters\ServiceDll changed`},
		{"TermService ServiceDll emptied", serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"image"},
			Old: reg("service_dll", "termservice", ccs+`TermService\Parameters`, "ServiceDll", `C:\Windows\System32\termsrv.dll`),
			New: reg("service_dll", "termservice", ccs+`TermService\Parameters`, "ServiceDll", "")},
			nil, RuleTerminalServicesDLL, Critical, true, ""},
		{"Exchange agent path", serverconf.Change{Kind: serverconf.ItemAdded, New: reg("registry_value", "exchange", ccs+`MSExchangeTransport\Agents\X`, "AssemblyPath", `C:\a.dll`)},
			nil, RuleRegistryTransport, Critical, true, ""},
		{"InetStp component", serverconf.Change{Kind: serverconf.ItemAdded, New: reg("iis_component", "iis", `HKLM\SOFTWARE\Microsoft\InetStp\Components`, "CGI", "")},
			nil, RuleIISComponent, High, true, ""},
		{"InetStp component in a window", serverconf.Change{Kind: serverconf.ItemAdded, New: reg("iis_component", "iis", `HKLM\SOFTWARE\Microsoft\InetStp\Components`, "CGI", "")},
			window, RuleIISComponent, Medium, true, ""},
		{"a setting that names no binary", serverconf.Change{Kind: serverconf.ItemChanged, Fields: []string{"attrs.data"},
			Old: reg("registry_value", "iis", ccs+"W3SVC", "Start", ""), New: reg("registry_value", "iis", ccs+"W3SVC", "Start", "")},
			nil, RuleConfigItemChanged, Medium, true, ""},
		{"a registered binary removed", serverconf.Change{Kind: serverconf.ItemRemoved, Old: reg("filter_dll", "iis", ccs+`W3SVC\Parameters`, `C:\x.dll`, `C:\x.dll`)},
			nil, RuleConfigItemRemoved, Low, true, "removed from"},
		{"an unreadable key", serverconf.Change{Kind: serverconf.ItemAdded, New: reg("unparsable", "", ccs+"W3SVC", ccs+"W3SVC", "")},
			nil, RuleUnparsableConfig, High, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := p.EvaluateItem(c.change, Context{Now: time.Now(), Window: c.window})
			if v.RuleID != c.rule || v.Severity != c.severity || v.Alert != c.alert || !strings.Contains(v.Reason, c.reason) {
				t.Fatalf("got %s %s alert=%v %q; want %s %s alert=%v containing %q", v.RuleID, v.Severity, v.Alert, v.Reason, c.rule, c.severity, c.alert, c.reason)
			}
		})
	}
}
