package alert

import (
	"encoding/json"
	"strings"

	"webfim/serverconf"
)

// registryFields fills the ECS registry.* fields of a registry inventory
// item and makes the event a registry one. The item's scope is the key
// path ("HKLM\SYSTEM\CurrentControlSet\Services\W3SVC\Parameters"); an
// ISAPI filter DLL is one entry of the value attrs.value ("Filter DLLs").
func registryFields(d Document, it *serverconf.Item) {
	d["event.category"] = []string{"configuration", "registry"}
	hive, key, _ := strings.Cut(it.Scope, `\`)
	d.set("registry.hive", hive)
	d.set("registry.key", key)
	value := it.Name
	if v, ok := it.Attrs["value"]; ok {
		value = v
	}
	if it.Kind == "unparsable" {
		return // the key could not be read: no value
	}
	d.set("registry.value", value)
	d.set("registry.path", it.Scope+`\`+value)
	d.set("registry.data.type", it.Type)
	if it.Kind == "filter_dll" {
		d.set("registry.data.strings", []string{it.Name})
		return
	}
	data, ok := it.Attrs["data"]
	if !ok {
		return
	}
	switch it.Type {
	case "REG_MULTI_SZ":
		var s []string
		if json.Unmarshal([]byte(data), &s) == nil {
			d.set("registry.data.strings", s)
		}
	case "REG_SZ", "REG_EXPAND_SZ", "REG_LINK", "REG_DWORD", "REG_DWORD_BIG_ENDIAN", "REG_QWORD":
		d.set("registry.data.strings", []string{data})
	}
}
