package policy

import "webfim/serverconf"

// registryRule is the rule of a change of a registry inventory item
// (server "registry", not unparsable, not removed): a registered binary is
// judged by the product whose key holds it (attrs.product), an IIS
// component by its own rule, any other value as a configuration item.
func registryRule(it *serverconf.Item) string {
	binary := it.Image != "" || it.Kind == "filter_dll" || it.Kind == "service_dll" || it.Kind == "service_image"
	switch {
	case it.Kind == "iis_component":
		return RuleIISComponent
	case !binary:
		return RuleConfigItemChanged
	case it.Attrs["product"] == "termservice":
		return RuleTerminalServicesDLL
	case it.Attrs["product"] == "exchange":
		return RuleRegistryTransport
	}
	return RuleRegistryIISBinary
}

// registryName is how a registry item is named in a verdict: the path of
// its value, and the entry for one DLL of a list value.
func registryName(it *serverconf.Item) string {
	if v, ok := it.Attrs["value"]; ok {
		return it.Scope + `\` + v + " entry " + it.Name
	}
	return it.Scope + `\` + it.Name
}
