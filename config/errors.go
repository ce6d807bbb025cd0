package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"webfim/config/bytesize"
	"webfim/policy"
)

// The file is decoded by the YAML library with unknown keys rejected
// (KnownFields). Its errors say "line N: ..."; this file turns them, and
// the validation errors of the policy and the outputs, into
// "file:line: key.path: problem" by finding the node in the parsed tree.

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

// fieldError is a bad value of a key of the file's own settings.
type fieldError struct {
	key string
	err error
}

func (e *fieldError) Error() string { return e.key + ": " + e.err.Error() }

func fieldErrorf(key, format string, args ...any) error {
	return &fieldError{key: key, err: fmt.Errorf(format, args...)}
}

// parseTree parses data into a node tree for locating errors; it returns
// nil for an empty document.
func parseTree(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file is the default configuration
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ConfigError{File: name, Line: extra.Line, Err: errors.New("more than one YAML document")}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	return root, nil
}

// syntaxError turns an error of the YAML library ("yaml: line 3: ...")
// into "file:3: ...".
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	if strings.Contains(msg, "excessive aliasing") {
		msg = "too many values after expanding aliases (anchors reused excessively)"
	}
	return &ConfigError{File: name, Line: line, Err: errors.New(msg)}
}

// checkDuplicates rejects a key given twice in one mapping. (The library
// would too, but without the first line for keys of a struct.) Aliases are
// not followed: the anchored value is checked where it is defined.
func checkDuplicates(name string, n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if line, dup := first[k.Value]; dup {
				return &ConfigError{File: name, Line: k.Line, Key: join(path, k.Value), Err: fmt.Errorf("duplicate key (first at line %d)", line)}
			}
			first[k.Value] = k.Line
			if err := checkDuplicates(name, n.Content[i+1], join(path, k.Value)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkDuplicates(name, c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	lineRE      = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRE   = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	unmarshalRE = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
)

// decodeError places the first error of the YAML library's decoder.
func decodeError(name string, root *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return syntaxError(name, err)
	}
	m := lineRE.FindStringSubmatch(te.Errors[0])
	if m == nil {
		return &ConfigError{File: name, Err: errors.New(te.Errors[0])}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	if u := unknownRE.FindStringSubmatch(msg); u != nil {
		n := find(root, func(n *yaml.Node, isKey bool) bool { return isKey && n.Line == line && n.Value == u[1] })
		known := strings.Join(knownKeys[u[2]], ", ")
		return &ConfigError{File: name, Line: line, Key: n.path, Err: fmt.Errorf("unknown key (known keys: %s)", known)}
	}
	if u := unmarshalRE.FindStringSubmatch(msg); u != nil {
		tag, value, goType := u[1], u[2], u[3]
		n := find(root, func(n *yaml.Node, isKey bool) bool {
			if isKey || n.Line != line {
				return false
			}
			switch tag {
			case "!!seq":
				return n.Kind == yaml.SequenceNode
			case "!!map":
				return n.Kind == yaml.MappingNode
			}
			if n.Kind != yaml.ScalarNode {
				return false
			}
			if prefix, cut := strings.CutSuffix(value, "..."); cut {
				return strings.HasPrefix(n.Value, prefix)
			}
			return value == "" || n.Value == value
		})
		got := fmt.Sprintf("%q", value)
		if n.node != nil {
			got = describe(n.node)
		}
		return &ConfigError{File: name, Line: line, Key: n.path, Err: fmt.Errorf("want %s, got %s", expectation(goType), got)}
	}
	// A message of a value type of ours ("unknown severity "x" ..."): the
	// node is the scalar on that line whose value the message quotes.
	n := find(root, func(n *yaml.Node, isKey bool) bool {
		return !isKey && n.Line == line && n.Kind == yaml.ScalarNode && strings.Contains(msg, strconv.Quote(n.Value))
	})
	return &ConfigError{File: name, Line: line, Key: n.path, Err: errors.New(msg)}
}

// placeError turns a validation error into a ConfigError at its key.
func placeError(name string, root *yaml.Node, err error) error {
	var key string
	var cause error
	var pe *policy.FieldError
	var fe *fieldError
	switch {
	case errors.As(err, &pe):
		key, cause = pe.Key, pe.Err
	case errors.As(err, &fe):
		key, cause = fe.key, fe.err
	default:
		return &ConfigError{File: name, Err: err}
	}
	line := 0
	if root != nil {
		line = locate(root, key).Line
	}
	return &ConfigError{File: name, Line: line, Key: key, Err: cause}
}

type found struct {
	node  *yaml.Node
	path  string
	depth int
}

// find returns the deepest node of the tree (the first of those equally
// deep) that match reports, with its key path. Keys are offered with
// isKey set and the path of their value. Aliases are not followed.
func find(root *yaml.Node, match func(n *yaml.Node, isKey bool) bool) found {
	var best found
	var walk func(n *yaml.Node, path string, depth int)
	consider := func(n *yaml.Node, isKey bool, path string, depth int) {
		if match(n, isKey) && (best.node == nil || depth > best.depth) {
			best = found{n, path, depth}
		}
	}
	walk = func(n *yaml.Node, path string, depth int) {
		consider(n, false, path, depth)
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				consider(k, true, join(path, k.Value), depth+1)
				walk(n.Content[i+1], join(path, k.Value), depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		}
	}
	walk(root, "", 0)
	return best
}

// locate finds the node of a key path such as "roots[0].path", for the
// line number of an error: the key itself when present, else the closest
// enclosing node. A key that holds dots ("indicators.weights.php.exec")
// is matched too.
func locate(n *yaml.Node, key string) *yaml.Node {
	cur := n
	parts := strings.Split(key, ".")
	for pi := 0; pi < len(parts); pi++ {
		name, idx, _ := strings.Cut(parts[pi], "[")
		if name != "" {
			if cur.Kind != yaml.MappingNode {
				return cur
			}
			k, v, used := mappingKey(cur, parts[pi:])
			if k == nil {
				return cur
			}
			pi += used - 1
			_, idx, _ = strings.Cut(parts[pi], "[")
			if idx == "" && pi == len(parts)-1 {
				return k // the key itself
			}
			cur = v
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

// mappingKey finds in the mapping m the key that is the first of parts,
// or the first ones joined by dots (the longest that exists), ignoring a
// trailing "[index]"; it returns the key and value nodes and how many
// parts the key took.
func mappingKey(m *yaml.Node, parts []string) (k, v *yaml.Node, used int) {
	for n := len(parts); n >= 1; n-- {
		name, _, _ := strings.Cut(strings.Join(parts[:n], "."), "[")
		if n > 1 && strings.Contains(strings.Join(parts[:n-1], "."), "[") {
			continue // an index ends a key
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == name {
				return m.Content[i], m.Content[i+1], n
			}
		}
	}
	return nil, nil, 0
}

// describe says what a node holds, for "want ..., got ..." messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.ShortTag() == "!!null" {
		return "nothing (null)"
	}
	return strconv.Quote(n.Value)
}

// valueTypes describes the accepted form of the value types of the file.
var valueTypes = map[string]string{
	typeName[time.Duration]():   `a duration such as "500ms" or "1h"`,
	typeName[bytesize.Size]():   bytesize.Expect,
	typeName[policy.Severity](): "low, medium, high or critical",
	typeName[policy.Weekday]():  "a weekday such as mon or monday",
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// expectation describes what a Go type of the decoded structs accepts.
func expectation(goType string) string {
	if e, ok := valueTypes[goType]; ok {
		return e
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return "a mapping" // structs and maps
}

// knownKeys lists the YAML keys of each struct type of the file by the
// type's name, as the library names it in "field x not found in type T".
var knownKeys = map[string][]string{}

func init() { registerKeys(reflect.TypeFor[Config]()) }

func registerKeys(t reflect.Type) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		registerKeys(t.Elem())
		return
	case reflect.Struct:
	default:
		return
	}
	if _, done := knownKeys[t.String()]; done {
		return
	}
	var keys []string
	var fields func(t reflect.Type)
	fields = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case !f.IsExported() || name == "-":
			case strings.Contains(opts, "inline"):
				fields(f.Type)
			default:
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				keys = append(keys, name)
				registerKeys(f.Type)
			}
		}
	}
	knownKeys[t.String()] = nil // guards recursion
	fields(t)
	slices.Sort(keys)
	knownKeys[t.String()] = keys
}
