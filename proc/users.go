package proc

import (
	"os/user"
	"strconv"
	"sync"
)

// maxUsers bounds the uid -> name cache; it is cleared when full.
const maxUsers = 4096

// userCache names uids, caching the answers (including "unknown").
type userCache struct {
	mu     sync.Mutex
	names  map[uint32]string
	lookup func(uint32) string
}

func newUserCache(lookup func(uint32) string) *userCache {
	if lookup == nil {
		lookup = systemUserName
	}
	return &userCache{names: map[uint32]string{}, lookup: lookup}
}

func (c *userCache) name(uid uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.names[uid]; ok {
		return n
	}
	if len(c.names) >= maxUsers {
		clear(c.names)
	}
	n := c.lookup(uid)
	c.names[uid] = n
	return n
}

// systemUserName asks the system's user database; "" when the uid has no
// name.
func systemUserName(uid uint32) string {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return ""
	}
	return u.Username
}
