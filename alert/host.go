package alert

import (
	"bufio"
	"bytes"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HostInfo describes the monitored host (ECS host.*).
type HostInfo struct {
	Name     string // host.name
	Hostname string // host.hostname
	ID       string // host.id: /etc/machine-id when readable
	Arch     string // host.architecture
	OS       OSInfo
}

// OSInfo is ECS host.os.*.
type OSInfo struct {
	Type     string // linux, windows, macos, ...
	Family   string // debian, rhel, windows
	Name     string // "Debian GNU/Linux"
	Version  string // "12"
	Platform string // "debian"
	Kernel   string // "6.1.0-18-amd64"
}

// CurrentHost describes the machine webfim runs on; fields that cannot be
// read are left empty.
func CurrentHost() HostInfo {
	h := HostInfo{Arch: archName(runtime.GOARCH), OS: OSInfo{Type: osType(runtime.GOOS)}}
	if name, err := os.Hostname(); err == nil {
		h.Name, h.Hostname = name, name
	}
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil && len(bytes.TrimSpace(b)) > 0 {
			h.ID = string(bytes.TrimSpace(b))
			break
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.OS.Kernel = string(bytes.TrimSpace(b))
	}
	if f, err := os.Open("/etc/os-release"); err == nil {
		defer f.Close()
		rel := map[string]string{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if ok {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				}
				rel[k] = v
			}
		}
		h.OS.Name, h.OS.Version, h.OS.Platform = rel["NAME"], rel["VERSION_ID"], rel["ID"]
		h.OS.Family = rel["ID"]
		if like := strings.Fields(rel["ID_LIKE"]); len(like) > 0 {
			h.OS.Family = like[0]
		}
	}
	if runtime.GOOS == "windows" {
		h.OS.Family, h.OS.Platform, h.OS.Name = "windows", "windows", "Windows"
	}
	return h
}

func osType(goos string) string {
	switch goos {
	case "darwin":
		return "macos"
	case "linux", "windows", "android", "ios":
		return goos
	}
	return "unix"
}

func archName(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goarch
}

// OwnerNames resolves uid and gid to user and group names through the
// system's user database, caching the answers; unknown ids give "".
func OwnerNames() (owner func(uid uint32) string, group func(gid uint32) string) {
	var mu sync.Mutex
	users, groups := map[uint32]string{}, map[uint32]string{}
	owner = func(uid uint32) string {
		mu.Lock()
		defer mu.Unlock()
		if n, ok := users[uid]; ok {
			return n
		}
		n := ""
		if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
			n = u.Username
		}
		users[uid] = n
		return n
	}
	group = func(gid uint32) string {
		mu.Lock()
		defer mu.Unlock()
		if n, ok := groups[gid]; ok {
			return n
		}
		n := ""
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
			n = g.Name
		}
		groups[gid] = n
		return n
	}
	return owner, group
}

// DefaultEnv describes this host and resolves owner names through the
// system user database; the caller sets the baseline, the root names and
// Now for each document.
func DefaultEnv(agentVersion string) Env {
	owner, group := OwnerNames()
	return Env{Host: CurrentHost(), AgentVersion: agentVersion, Now: time.Now(), Owner: owner, Group: group}
}
