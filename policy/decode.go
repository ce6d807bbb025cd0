package policy

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error about the content of a config file.
var ErrInvalid = errors.New("invalid config")

// ConfigError is a problem at one place of a config file.
type ConfigError struct {
	File string
	Line int
	Key  string // dotted path such as "deploy_windows[0].timezone"; may be empty
	Err  error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// scalarValue is implemented by config types written as one YAML scalar
// (durations, sizes, severities, weekdays).
type scalarValue interface {
	setScalar(s string) error
	// expect describes the accepted form, for "want ..." messages.
	expect() string
}

// keyError is returned by validators: Key is relative to the struct being
// validated and locates the error at that key's line.
type keyError struct {
	Key string
	Err error
}

func (e *keyError) Error() string { return e.Key + ": " + e.Err.Error() }

func keyErrorf(key, format string, args ...any) error {
	return &keyError{Key: key, Err: fmt.Errorf(format, args...)}
}

// validator is implemented by config structs that check their values once
// decoded; set reports whether a key was present in the file.
type validator interface {
	validate(set func(key string) bool) error
}

// decoder decodes a yaml.Node tree into Go values by their `yaml` tags,
// rejecting unknown keys and mistyped values with file, line and key path.
// It decodes over existing values: absent keys keep their defaults, lists
// given in the file replace the default lists, maps are merged.
type decoder struct {
	file string
	// budget bounds the nodes decoded, so that aliases reused many times
	// ("billion laughs") cannot make a small file expensive.
	budget int
}

// maxNodes is the decoding budget of one file.
const maxNodes = 1_000_000

func (d *decoder) errAt(n *yaml.Node, path string, err error) error {
	return &ConfigError{File: d.file, Line: n.Line, Key: path, Err: err}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported node"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type fieldInfo struct {
	index []int
	group string // `group:"..."` tag of the inline struct the field came from
}

// fieldsOf maps yaml keys to struct fields, flattening ",inline" structs.
func fieldsOf(t reflect.Type) (map[string]fieldInfo, []string) {
	fields := map[string]fieldInfo{}
	var names []string
	var walk func(t reflect.Type, prefix []int, group string)
	walk = func(t reflect.Type, prefix []int, group string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), prefix...), i)
			if strings.Contains(opts, "inline") {
				walk(f.Type, idx, f.Tag.Get("group"))
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = fieldInfo{index: idx, group: group}
			names = append(names, name)
		}
	}
	walk(t, nil, "")
	sort.Strings(names)
	return fields, names
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if d.budget++; d.budget > maxNodes {
		return d.errAt(n, path, fmt.Errorf("too many values (over %d, after expanding aliases)", maxNodes))
	}
	if v.CanAddr() {
		if s, ok := v.Addr().Interface().(scalarValue); ok {
			if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
				return d.errAt(n, path, fmt.Errorf("want %s, got %s", s.expect(), kindName(n)))
			}
			if err := s.setScalar(n.Value); err != nil {
				return d.errAt(n, path, err)
			}
			return nil
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil // "watch:" with nothing under it keeps the defaults
		}
		if n.Kind != yaml.MappingNode {
			return d.errAt(n, path, fmt.Errorf("want a mapping, got %s", kindName(n)))
		}
		fields, names := fieldsOf(v.Type())
		set := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if prev := set[k.Value]; prev != nil {
				return d.errAt(k, join(path, k.Value), fmt.Errorf("duplicate key (first at line %d)", prev.Line))
			}
			f, ok := fields[k.Value]
			if !ok {
				return d.errAt(k, join(path, k.Value), fmt.Errorf("unknown key (known keys: %s)", strings.Join(names, ", ")))
			}
			set[k.Value] = k
			if err := d.decode(val, v.FieldByIndex(f.index), join(path, k.Value)); err != nil {
				return err
			}
		}
		if val, ok := v.Addr().Interface().(validator); ok {
			err := val.validate(func(key string) bool { return set[key] != nil })
			if err != nil {
				var ke *keyError
				if errors.As(err, &ke) {
					return d.errAt(locate(n, ke.Key), join(path, ke.Key), ke.Err)
				}
				return d.errAt(n, path, err)
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.errAt(n, path, fmt.Errorf("want a list, got %s", kindName(n)))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			if err := d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return d.errAt(n, path, fmt.Errorf("want a mapping, got %s", kindName(n)))
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if line, dup := seen[k.Value]; dup {
				return d.errAt(k, join(path, k.Value), fmt.Errorf("duplicate key (first at line %d)", line))
			}
			seen[k.Value] = k.Line
			e := reflect.New(v.Type().Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(k.Value)); old.IsValid() {
				e.Set(old)
			}
			if err := d.decode(val, e, join(path, k.Value)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k.Value), e)
		}
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return d.errAt(n, path, fmt.Errorf("want a string, got %s", kindName(n)))
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return d.errAt(n, path, fmt.Errorf("want true or false, got %s", kindName(n)))
		}
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return d.errAt(n, path, fmt.Errorf("want true or false, got %q", n.Value))
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return d.errAt(n, path, fmt.Errorf("want an integer, got %s", kindName(n)))
		}
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil {
			return d.errAt(n, path, fmt.Errorf("want an integer, got %q", n.Value))
		}
		v.SetInt(i)
		return nil
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			return d.errAt(n, path, fmt.Errorf("want a number, got %s", kindName(n)))
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return d.errAt(n, path, fmt.Errorf("want a number, got %q", n.Value))
		}
		v.SetFloat(f)
		return nil
	}
	return d.errAt(n, path, fmt.Errorf("internal error: cannot decode into %s", v.Type()))
}

// locate finds the node of a relative key path such as "roots[0].path" in
// a mapping, for the line number of an error; it falls back to the closest
// node found.
func locate(n *yaml.Node, key string) *yaml.Node {
	cur := n
	parts := strings.Split(key, ".")
	for pi, part := range parts {
		name, idx, _ := strings.Cut(part, "[")
		if name != "" {
			if cur.Kind != yaml.MappingNode {
				return cur
			}
			found := false
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == name {
					if idx == "" && pi == len(parts)-1 {
						return cur.Content[i] // the key itself
					}
					cur, found = cur.Content[i+1], true
					break
				}
			}
			if !found {
				return cur
			}
		}
		for idx != "" {
			var s string
			s, idx, _ = strings.Cut(idx, "]")
			idx = strings.TrimPrefix(idx, "[")
			i, err := strconv.Atoi(s)
			if err != nil || cur.Kind != yaml.SequenceNode || i < 0 || i >= len(cur.Content) {
				return cur
			}
			cur = cur.Content[i]
		}
	}
	return cur
}

func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

var typeOfOutput = reflect.TypeOf(Output{})
