package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"webfim/baseline"
	"webfim/store"
)

// displayText makes text that a user or an attacker chose (a label, a
// deploy window's "by", a name read from a config file) safe to print on
// one line of a terminal: invalid UTF-8 bytes, control characters
// (newline, ESC and the C1 controls, which start terminal escape
// sequences), invisible formatting characters (bidirectional overrides
// that reorder what is shown) and backslashes are escaped Go-style (\xff,
// \x0a, \u202e, \\). Other text, spaces of any script included, is left
// as is.
func displayText(s string) string { return escapeText(s, true) }

// displayPath is displayText for a raw path, whose backslashes are left
// alone when it is a Windows path ("C:\inetpub"), so that a crafted file
// name cannot forge report lines nor hide what it is.
func displayPath(p string) string { return escapeText(p, !strings.Contains(p, ":\\")) }

func escapeText(s string, backslash bool) string {
	if printable(s, backslash) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\' && backslash:
			b.WriteString(`\\`)
		case r < 0x80 && !unicode.IsGraphic(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && !unicode.IsGraphic(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0x80 && !unicode.IsGraphic(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// printable reports whether escapeText leaves s as it is.
func printable(s string, backslash bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r == '\\' && backslash) || !unicode.IsGraphic(r) {
			return false
		}
		i += size
	}
	return true
}

// pathJSON holds a raw path in the JSON schemas: Path is always valid
// UTF-8 (see displayPath); Base64 carries the exact bytes when the raw path
// is not printable UTF-8.
type pathJSON struct {
	Path   string `json:"path"`
	Base64 string `json:"path_base64,omitempty"`
}

func newPathJSON(p string) pathJSON {
	d := displayPath(p)
	if d == p {
		return pathJSON{Path: p}
	}
	return pathJSON{Path: d, Base64: base64.StdEncoding.EncodeToString([]byte(p))}
}

// recordJSON is the JSON view of a [baseline.Record] (diff and baseline
// show schemas).
type recordJSON struct {
	Root string `json:"root"`
	pathJSON
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	Mode     string `json:"mode"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	Mtime    string `json:"mtime"`
	Ctime    string `json:"ctime,omitempty"`
	Inode    uint64 `json:"inode"`
	Dev      uint64 `json:"dev"`
	Target   string `json:"target,omitempty"`
	BLAKE3   string `json:"blake3,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Error    string `json:"error,omitempty"`
	Unstable bool   `json:"unstable,omitempty"`
}

func nsTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func newRecordJSON(r baseline.Record) recordJSON {
	return recordJSON{
		Root: r.Root, pathJSON: newPathJSON(r.Path), Type: r.Type.String(), Size: r.Size,
		Mode: fmt.Sprintf("%04o", uint32(r.Mode.Perm())|modeBits(r)), UID: r.UID, GID: r.GID,
		Mtime: nsTime(r.Mtime), Ctime: nsTime(r.Ctime), Inode: r.Inode, Dev: r.Dev,
		Target: displayPath(r.Target), BLAKE3: hex.EncodeToString(r.BLAKE3), SHA256: hex.EncodeToString(r.SHA256),
		Error: r.Err, Unstable: r.Unstable,
	}
}

// modeBits adds setuid, setgid and sticky as the octal digit before the
// permission bits.
func modeBits(r baseline.Record) uint32 {
	var b uint32
	if r.Mode&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if r.Mode&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if r.Mode&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// metaJSON is the JSON view of a [store.Meta].
type metaJSON struct {
	ID            uint64   `json:"id"`
	Label         string   `json:"label,omitempty"`
	Active        bool     `json:"active"`
	Created       string   `json:"created"`
	Host          string   `json:"host"`
	Roots         []string `json:"roots"`
	Configs       []string `json:"configs,omitempty"`
	Sysroot       string   `json:"sysroot,omitempty"`
	Files         int64    `json:"files"`
	Dirs          int64    `json:"dirs"`
	Symlinks      int64    `json:"symlinks"`
	Others        int64    `json:"others"`
	Bytes         int64    `json:"bytes"`
	Errors        int64    `json:"errors"`
	Unstable      int64    `json:"unstable"`
	DurationMS    int64    `json:"duration_ms"`
	Version       string   `json:"version"`
	Full          bool     `json:"full"`
	HashAllSHA256 bool     `json:"hash_all_sha256"`
	// Review is what deploy finish trusted on a user's word or held out.
	Review *store.Review `json:"review,omitempty"`
}

func newMetaJSON(m store.Meta) metaJSON {
	return metaJSON{
		ID: m.ID, Label: m.Label, Active: m.Active, Created: m.Created.UTC().Format(time.RFC3339Nano), Host: m.Host,
		Roots: m.Roots, Configs: m.Configs, Sysroot: m.Sysroot, Files: m.Files, Dirs: m.Dirs, Symlinks: m.Symlinks,
		Others: m.Others, Bytes: m.Bytes, Errors: m.Errors, Unstable: m.Unstable, DurationMS: m.Duration.Milliseconds(),
		Version: m.Version, Full: m.Full, HashAllSHA256: m.HashAllSHA256, Review: m.Review,
	}
}
