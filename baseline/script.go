package baseline

import (
	"strings"

	"webfim/indicators"
	"webfim/serverconf"
)

// DefaultScriptExtensions are the extensions (without the dot, lower case)
// of files a web server may execute: server-side scripts, templates and
// archives deployable as applications. They are the one list of package
// indicators ([indicators.ScriptExtensions]). Their SHA-256 is recorded
// so that alerts can be pivoted to threat-intelligence lookups.
var DefaultScriptExtensions = indicators.ScriptExtensions()

// IsScript reports whether name is script-type by its name: any of its
// extensions ([indicators.EachExtension]: "s.php.jpg" counts by "php")
// is one of exts (case-insensitive, with or without a leading dot), or it
// is a per-directory server configuration (.htaccess, .user.ini,
// web.config: [serverconf.ForFile]). A nil exts means
// [DefaultScriptExtensions].
func IsScript(name string, exts []string) bool {
	if _, ok := serverconf.ForFile(name); ok {
		return true
	}
	if exts == nil {
		found := false
		indicators.EachExtension(name, func(ext string) bool {
			found = indicators.IsScriptExtension(ext)
			return !found
		})
		return found
	}
	found := false
	indicators.EachExtension(name, func(ext string) bool {
		for _, e := range exts {
			if strings.EqualFold(ext, strings.TrimPrefix(e, ".")) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}
