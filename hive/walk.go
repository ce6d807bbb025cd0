package hive

import "fmt"

// MaxDepth is how deep a walk descends; Windows itself refuses key paths
// deeper than 512 levels.
const MaxDepth = 512

// Walk calls fn for k and every key below it, depth first, parents before
// children, with the path of names from k (empty for k itself). It stops
// at the first error, from fn or from the hive. However the hive is
// damaged, it visits at most [Hive.MaxKeys] keys, MaxDepth levels deep.
func (k *Key) Walk(fn func(path []string, k *Key) error) error {
	budget := k.h.MaxKeys()
	var walk func(path []string, k *Key) error
	walk = func(path []string, k *Key) error {
		if budget--; budget < 0 {
			return formatErr(k.Offset(), "more keys below than the hive can hold: a subkey is listed more than once")
		}
		if len(path) > MaxDepth {
			return formatErr(k.Offset(), "key %q is more than %d levels deep", k.name, MaxDepth)
		}
		if err := fn(path, k); err != nil {
			return err
		}
		for c, err := range k.Subkeys() {
			if err != nil {
				return err
			}
			if err := walk(append(path[:len(path):len(path)], c.name), c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(nil, k); err != nil {
		return fmt.Errorf("walking key %q: %w", k.name, err)
	}
	return nil
}
