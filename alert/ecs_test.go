package alert

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	ecsFlat = flag.String("ecs-flat", "", "regenerate testdata/ecs_fields.json from this ecs_flat.yml (ECS 9.4.0)")
	update  = flag.Bool("update", false, "rewrite the golden documents in testdata/golden")
)

const ecsFieldsFile = "testdata/ecs_fields.json"

// ecsFields is the slice of the ECS schema the validation needs: every
// flat field with its type and whether it is an array, the allowed values
// of the categorization fields, and the event types expected per category.
type ecsFields struct {
	Provenance         string              `json:"provenance"`
	Fields             map[string]ecsField `json:"fields"`
	AllowedValues      map[string][]string `json:"allowed_values"`
	ExpectedEventTypes map[string][]string `json:"expected_event_types"`
}

type ecsField struct {
	Type  string `json:"type"`
	Array bool   `json:"array,omitempty"`
}

// conventionFields are not in the ECS field list but follow an ECS
// convention: the hash field set says to name other algorithms in lower
// snake case next to the listed ones, so BLAKE3 is file.hash.blake3.
var conventionFields = map[string]ecsField{
	"file.hash.blake3": {Type: "keyword"},
}

// TestGenerateECSFields regenerates testdata/ecs_fields.json when given
// -ecs-flat; the tests themselves only read the committed copy, so they
// run from a fresh clone.
func TestGenerateECSFields(t *testing.T) {
	if *ecsFlat == "" {
		t.Skip("regenerates testdata/ecs_fields.json only with -ecs-flat PATH/ecs_flat.yml")
	}
	data, err := os.ReadFile(*ecsFlat)
	if err != nil {
		t.Fatal(err)
	}
	var flat map[string]struct {
		Type          string   `yaml:"type"`
		Normalize     []string `yaml:"normalize"`
		AllowedValues []struct {
			Name               string   `yaml:"name"`
			ExpectedEventTypes []string `yaml:"expected_event_types"`
		} `yaml:"allowed_values"`
	}
	if err := yaml.Unmarshal(data, &flat); err != nil {
		t.Fatal(err)
	}
	out := ecsFields{
		Provenance: "Derived from ecs_flat.yml of the Elastic Common Schema, version 9.4.0 (elastic/ecs, tag v9.4.0, file generated/ecs/ecs_flat.yml, " +
			"sha256 f2c78b7c68503d42f5713ebea63fbfafbbeb7056f0d3ec7208c9cc2202ba7d8f). ECS is Apache-2.0 licensed. " +
			"Regenerate with: go test ./alert -run TestGenerateECSFields -ecs-flat PATH/ecs_flat.yml",
		Fields:             map[string]ecsField{},
		AllowedValues:      map[string][]string{},
		ExpectedEventTypes: map[string][]string{},
	}
	for name, f := range flat {
		out.Fields[name] = ecsField{Type: f.Type, Array: slices.Contains(f.Normalize, "array")}
		for _, v := range f.AllowedValues {
			out.AllowedValues[name] = append(out.AllowedValues[name], v.Name)
			if name == "event.category" {
				out.ExpectedEventTypes[v.Name] = v.ExpectedEventTypes
			}
		}
	}
	// One field per line keeps diffs of a schema update readable.
	var b bytes.Buffer
	prov, _ := json.Marshal(out.Provenance)
	fmt.Fprintf(&b, "{\n\"provenance\": %s,\n\"fields\": {\n", prov)
	names := make([]string, 0, len(out.Fields))
	for n := range out.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		k, _ := json.Marshal(n)
		v, _ := json.Marshal(out.Fields[n])
		sep := ","
		if i == len(names)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s: %s%s\n", k, v, sep)
	}
	av, _ := json.Marshal(out.AllowedValues)
	et, _ := json.Marshal(out.ExpectedEventTypes)
	fmt.Fprintf(&b, "},\n\"allowed_values\": %s,\n\"expected_event_types\": %s\n}\n", av, et)
	if err := os.WriteFile(ecsFieldsFile, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadECS(t *testing.T) *ecsFields {
	t.Helper()
	data, err := os.ReadFile(ecsFieldsFile)
	if err != nil {
		t.Fatal(err)
	}
	var s ecsFields
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Fields) < 1000 || len(s.AllowedValues["event.kind"]) == 0 {
		t.Fatalf("%s looks truncated: %d fields", ecsFieldsFile, len(s.Fields))
	}
	return &s
}

// nestedFields are the custom fields that hold an array of objects, as
// ECS's nested fields do (threat.enrichments): each object's fields belong
// together. Only these may.
var nestedFields = map[string]bool{"webfim.indicators.matches": true}

// flatten turns a decoded JSON object into dotted field names; arrays of
// scalars are values, as in ECS.
func flatten(prefix string, v any, out map[string]any, errs *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			flatten(name, e, out, errs)
		}
	case []any:
		for _, e := range x {
			if _, obj := e.(map[string]any); obj && !nestedFields[prefix] {
				*errs = append(*errs, prefix+": array of objects")
			}
		}
		out[prefix] = v
	default:
		out[prefix] = v
	}
}

func checkType(name, typ string, v any) error {
	switch typ {
	case "keyword", "constant_keyword", "wildcard", "match_only_text", "text", "ip":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: %s field holds %T %v", name, typ, v, v)
		}
	case "long", "integer", "short", "byte", "unsigned_long":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return fmt.Errorf("%s: %s field holds %T %v", name, typ, v, v)
		}
	case "float", "double", "scaled_float", "half_float":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: %s field holds %T %v", name, typ, v, v)
		}
	case "date":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: date field holds %T", name, v)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("%s: date %q is not RFC 3339", name, s)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: boolean field holds %T", name, v)
		}
	default:
		return fmt.Errorf("%s: field of type %s is not expected in webfim documents", name, typ)
	}
	return nil
}

// validateECS checks a document against the schema and returns every
// problem found.
func validateECS(s *ecsFields, doc []byte) []string {
	var obj map[string]any
	if err := json.Unmarshal(doc, &obj); err != nil {
		return []string{err.Error()}
	}
	var errs []string
	flat := map[string]any{}
	flatten("", obj, flat, &errs)
	for name, v := range flat {
		if strings.HasPrefix(name, "webfim.") {
			continue
		}
		f, ok := s.Fields[name]
		if !ok {
			f, ok = conventionFields[name]
		}
		if !ok {
			errs = append(errs, name+": not an ECS field and not under webfim.*")
			continue
		}
		values := []any{v}
		if arr, isArr := v.([]any); isArr {
			if !f.Array {
				errs = append(errs, name+": array in a field that ECS does not normalize to an array")
			}
			values = arr
		}
		for _, e := range values {
			if err := checkType(name, f.Type, e); err != nil {
				errs = append(errs, err.Error())
			}
			if allowed := s.AllowedValues[name]; allowed != nil {
				if str, _ := e.(string); !slices.Contains(allowed, str) {
					errs = append(errs, fmt.Sprintf("%s: %v is not an allowed value %v", name, e, allowed))
				}
			}
		}
	}
	cats, _ := flat["event.category"].([]any)
	types, _ := flat["event.type"].([]any)
	for _, c := range cats {
		for _, ty := range types {
			if !slices.Contains(s.ExpectedEventTypes[c.(string)], ty.(string)) {
				errs = append(errs, fmt.Sprintf("event.type %v is not expected with event.category %v (expected: %v)", ty, c, s.ExpectedEventTypes[c.(string)]))
			}
		}
	}
	for _, required := range []string{"@timestamp", "ecs.version", "message", "event.kind", "event.category", "event.type",
		"event.action", "event.id", "event.created", "event.dataset", "event.module", "agent.type", "host.name"} {
		if _, ok := flat[required]; !ok {
			errs = append(errs, required+": missing")
		}
	}
	sort.Strings(errs)
	return errs
}

func TestValidatorCatchesMistakes(t *testing.T) {
	s := loadECS(t)
	good := `{"@timestamp":"2026-11-26T10:00:00Z","ecs":{"version":"9.4.0"},"message":"m","agent":{"type":"webfim"},"host":{"name":"h"},
"event":{"kind":"alert","category":["file"],"type":["creation"],"action":"a","id":"x","created":"2026-11-26T10:00:00Z","dataset":"d","module":"m"}}`
	if errs := validateECS(s, []byte(good)); len(errs) > 0 {
		t.Fatalf("good document rejected: %v", errs)
	}
	for bad, want := range map[string]string{
		`"kind":"alert"`:                   `"kind":"finding"`,
		`"category":["file"]`:              `"category":["files"]`,
		`"type":["creation"]`:              `"type":["installation"]`,
		`"module":"m"`:                     `"module":"m","severity":"high"`,
		`"host":{"name":"h"}`:              `"host":{"name":"h","inode":"1"}`,
		`"agent":{"type":"webfim"}`:        `"agent":{"type":["webfim"]}`,
		`"created":"2026-11-26T10:00:00Z"`: `"created":"yesterday"`,
	} {
		doc := strings.Replace(good, bad, want, 1)
		if errs := validateECS(s, []byte(doc)); len(errs) == 0 {
			t.Errorf("validator accepted %s", want)
		}
	}
	// file + creation is fine, but configuration + installation is not.
	doc := strings.Replace(good, `"category":["file"],"type":["creation"]`, `"category":["configuration"],"type":["start"]`, 1)
	if errs := validateECS(s, []byte(doc)); len(errs) == 0 {
		t.Error("validator accepted configuration/start")
	}
}

var validateFile = flag.String("validate", "", "validate every line of this NDJSON file (e.g. the output of diff --format ecs) against the ECS schema")

// TestValidateNDJSON checks real output: go test ./alert -run TestValidateNDJSON -validate out.ndjson
func TestValidateNDJSON(t *testing.T) {
	if *validateFile == "" {
		t.Skip("only with -validate FILE")
	}
	s := loadECS(t)
	data, err := os.ReadFile(*validateFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n++
		for _, e := range validateECS(s, line) {
			t.Errorf("line %d: %s", i+1, e)
		}
	}
	t.Logf("%d documents checked", n)
}
