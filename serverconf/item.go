// Package serverconf parses web server configurations (IIS, Apache, nginx,
// PHP, Tomcat, Exchange) into inventories of their extension points:
// modules, handlers, filters, agents, prepend files and web roots.
package serverconf

import (
	"errors"
	"fmt"
	"strings"
)

// Item is one extension point found in a server configuration.
type Item struct {
	// Server is the product: "iis", "webconfig", "apache", "htaccess",
	// "nginx", "php", "tomcat", "exchange", or "registry" for values of
	// the Windows registry (attrs.product then names the product).
	Server string `json:"server"`
	// Kind is what the item is: "global_module", "module", "isapi_filter",
	// "handler", "isapi_cgi_restriction", "config_source", "web_root",
	// "load_module", "load_file", "include", "script_handler",
	// "auto_prepend_file", "auto_append_file", "exec_cgi", "extension",
	// "zend_extension", "valve", "listener", "jsp_mapping", "context",
	// "war", "transport_agent", "redirection", "module_provider",
	// "http_module", "http_handler", "fastcgi_application",
	// "access_policy", "unparsable"; for the registry "filter_dll",
	// "service_dll", "service_image", "iis_component", "registry_value".
	Kind string `json:"kind"`
	// Name identifies the item within Kind and Scope (module name, handler
	// path pattern, directive argument, agent name ...).
	Name string `json:"name"`
	// Image is the binary, script or directory the item points at, with
	// environment variables such as %windir% expanded where known.
	Image string `json:"image,omitempty"`
	// Type is the managed type, class name or handler type, if any.
	Type string `json:"type,omitempty"`
	// Scope is where the item applies: "server", a <location> path, a
	// virtual host, a pool, a directory of a .htaccess file; the key path
	// of a registry value.
	Scope string `json:"scope,omitempty"`
	// Attrs holds the other attributes (preCondition, verb, enabled ...).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Source and Line locate the item in the configuration.
	Source string `json:"source"`
	Line   int    `json:"line,omitempty"`
	// ImageBLAKE3 is the hex digest of Image when it names a readable file.
	ImageBLAKE3 string `json:"image_blake3,omitempty"`
}

// Identity is the key under which an item is compared across two
// inventories: the same identity with other attributes is a change. It
// includes the source file, so that the same directive in two files (the
// php.ini of two SAPIs, say) stays two items. Windows products compare
// names, scopes and paths case-insensitively, as Windows does.
func (it Item) Identity() string {
	src, scope, name := it.Source, it.Scope, it.Name
	if windowsServer(it.Server) {
		src, scope, name = strings.ToLower(src), strings.ToLower(scope), strings.ToLower(name)
	}
	return it.Server + "\x00" + it.Kind + "\x00" + src + "\x00" + scope + "\x00" + name
}

// windowsServer reports whether items of server name Windows paths and
// case-insensitive names.
func windowsServer(server string) bool {
	switch server {
	case "iis", "webconfig", "exchange", "registry":
		return true
	}
	return false
}

// Inventory is what ParseFile found in one configuration file and the
// files it includes.
type Inventory struct {
	Server string `json:"server"`
	Source string `json:"source"` // the file as seen on the examined server
	BLAKE3 string `json:"blake3,omitempty"`
	Items  []Item `json:"items"`
	// Files lists the file itself and every file it included, as seen on
	// the examined server; a watcher should watch all of them.
	Files []string `json:"files,omitempty"`
	// Err is set when the file could not be parsed; Items then holds one
	// item of kind "unparsable" (plus what was found before the error,
	// for formats that can be read line by line).
	Err *ParseError `json:"error,omitempty"`
	// Warnings say why the items may be incomplete or stale although the
	// file could be read: a registry hive whose transaction logs hold
	// changes webfim does not replay.
	Warnings []string `json:"warnings,omitempty"`
	// Sources are the files and directories on this host the inventory
	// depends on, for a watcher: Files lists the files, included or
	// named as images, Dirs the directories listed.
	Sources Sources `json:"-"`
}

// ParseError locates why a configuration could not be parsed.
type ParseError struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
	Msg  string `json:"msg"`
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Is makes errors.Is(err, ErrUnparsable) true for every ParseError.
func (e *ParseError) Is(target error) bool { return target == ErrUnparsable }

// ErrUnparsable is matched by every *ParseError.
var ErrUnparsable = errors.New("configuration cannot be parsed")

// ChangeKind says how an inventory item differs between two states.
type ChangeKind string

// Inventory change kinds; strings are part of the output schema.
const (
	ItemAdded   ChangeKind = "added"
	ItemRemoved ChangeKind = "removed"
	ItemChanged ChangeKind = "changed"
)

// Change is one difference between two inventories.
type Change struct {
	Kind   ChangeKind `json:"kind"`
	Fields []string   `json:"fields,omitempty"` // for ItemChanged: "image", "type", "image_blake3", "attrs.enabled" ...
	Old    *Item      `json:"old,omitempty"`
	New    *Item      `json:"new,omitempty"`
	// Note is a finding worth saying to an analyst, e.g. that the image
	// of an added module is already used by another module.
	Note string `json:"note,omitempty"`
}
