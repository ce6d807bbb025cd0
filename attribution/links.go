package attribution

import (
	"sync"

	"webfim/proc"
)

// links remembers, for a while, which processes and files belong to the
// chain of a server spawn, so that a file finding can name the spawn's
// lineage id. Bounded: the oldest entries go first.
type links struct {
	mu     sync.Mutex
	byProc map[proc.Key]string
	byPath map[string]string
	ring   []linkKey // insertion order, for eviction
	next   int
}

type linkKey struct {
	proc proc.Key
	path string // set for a path entry
}

func newLinks(max int) *links {
	return &links{byProc: map[proc.Key]string{}, byPath: map[string]string{}, ring: make([]linkKey, max)}
}

func (l *links) put(k linkKey, id string) {
	old := l.ring[l.next]
	if old.path != "" {
		delete(l.byPath, old.path)
	} else if old.proc != (proc.Key{}) {
		delete(l.byProc, old.proc)
	}
	l.ring[l.next] = k
	l.next = (l.next + 1) % len(l.ring)
	if k.path != "" {
		l.byPath[k.path] = id
	} else {
		l.byProc[k.proc] = id
	}
}

// add records the processes of a spawn's chain below the server, and the
// files it runs, under the spawn's lineage id.
func (l *links) add(id string, procs []*proc.Process, files []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range procs {
		if _, ok := l.byProc[p.Key()]; !ok {
			l.put(linkKey{proc: p.Key()}, id)
		}
	}
	for _, f := range files {
		if _, ok := l.byPath[f]; !ok {
			l.put(linkKey{path: f}, id)
		}
	}
}

// process returns the lineage id of the first of keys that is in a
// spawn's chain.
func (l *links) process(keys ...proc.Key) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if id, ok := l.byProc[k]; ok {
			return id
		}
	}
	return ""
}

// path returns the lineage id of a spawn that ran the file at path.
func (l *links) path(p string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byPath[p]
}
