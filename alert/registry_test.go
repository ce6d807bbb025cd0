package alert

import (
	"testing"

	"webfim/policy"
	"webfim/serverconf"
)

// An item read from the live registry (Windows) has no file: its document
// carries the registry fields only, and is valid ECS.
func TestLiveRegistryDocument(t *testing.T) {
	s := loadECS(t)
	it := &serverconf.Item{Server: "registry", Kind: "registry_value", Name: "DependOnService", Scope: `HKLM\SYSTEM\CurrentControlSet\Services\W3SVC`,
		Type: "REG_MULTI_SZ", Source: `HKLM\SYSTEM`, Attrs: map[string]string{"product": "iis", "data": `["HTTP","WAS"]`}}
	c := serverconf.Change{Kind: serverconf.ItemAdded, New: it}
	d := FromItemChange(c, policy.Default().EvaluateItem(c, policy.Context{Now: detected}), testEnv())
	if _, ok := d["file.path"]; ok {
		t.Errorf("file.path %v for an item of the live registry", d["file.path"])
	}
	if got := d["registry.data.strings"]; len(got.([]string)) != 2 || d["registry.path"] != `HKLM\SYSTEM\CurrentControlSet\Services\W3SVC\DependOnService` ||
		d["registry.hive"] != "HKLM" || d["rule.id"] != policy.RuleConfigItemChanged {
		t.Errorf("%v", d)
	}
	body, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range validateECS(s, body) {
		t.Error(e)
	}
}
