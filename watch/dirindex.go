package watch

import "strings"

// dirIndex remembers which directories are watched, per root, as a tree of
// path components: one small node per directory and no full path strings,
// so 100,000 directories cost a few megabytes, and removing a subtree
// touches only that subtree.
type dirIndex struct {
	roots map[string]*dirNode
	count int
}

type dirNode struct {
	name     string
	children map[string]*dirNode // nil until the first child
}

func newDirIndex() *dirIndex { return &dirIndex{roots: make(map[string]*dirNode)} }

// add records the directory rel (slash-separated, "" for the root itself)
// and any missing parents; it reports whether rel was new.
func (x *dirIndex) add(root, rel string) bool {
	n := x.roots[root]
	if n == nil {
		n = &dirNode{}
		x.roots[root] = n
		x.count++
	}
	added := false
	if rel == "" {
		return false
	}
	for _, c := range strings.Split(rel, "/") {
		child := n.children[c]
		if child == nil {
			if n.children == nil {
				n.children = make(map[string]*dirNode)
			}
			child = &dirNode{name: c}
			n.children[c] = child
			x.count++
			added = true
		}
		n = child
	}
	return added
}

func (x *dirIndex) lookup(root, rel string) *dirNode {
	n := x.roots[root]
	if n == nil || rel == "" {
		return n
	}
	for _, c := range strings.Split(rel, "/") {
		n = n.children[c]
		if n == nil {
			return nil
		}
	}
	return n
}

func (x *dirIndex) has(root, rel string) bool { return x.lookup(root, rel) != nil }

// remove forgets rel and everything below it, calling fn for each removed
// directory (children before their parent); it reports whether rel was known.
func (x *dirIndex) remove(root, rel string, fn func(rel string)) bool {
	if rel == "" {
		n := x.roots[root]
		if n == nil {
			return false
		}
		x.walk(n, "", fn)
		delete(x.roots, root)
		return true
	}
	parentRel, name := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		parentRel, name = rel[:i], rel[i+1:]
	}
	parent := x.lookup(root, parentRel)
	if parent == nil || parent.children[name] == nil {
		return false
	}
	x.walk(parent.children[name], rel, fn)
	delete(parent.children, name)
	return true
}

func (x *dirIndex) walk(n *dirNode, rel string, fn func(string)) {
	for name, c := range n.children {
		x.walk(c, joinRel(rel, name), fn)
	}
	x.count--
	if fn != nil {
		fn(rel)
	}
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
