package indicators

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"webfim/indicators/yara"
)

// Engine holds compiled [Settings]. It is safe for concurrent use; each
// goroutine scans with a [Scanner] of its own.
type Engine struct {
	weights    [numIndicators]int
	thresholds Thresholds
	maxBytes   int
	tailBytes  int
}

// New returns an Engine for s (the zero Settings: the defaults). Errors
// wrap [ErrSettings] and name the offending key.
func New(s Settings) (*Engine, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{thresholds: s.Thresholds, maxBytes: int(s.MaxBytes), tailBytes: int(s.TailBytes)}
	for i := range catalog {
		e.weights[i] = catalog[i].Weight
	}
	for id, w := range s.Weights {
		e.weights[indexByID[id]] = w
	}
	return e, nil
}

// MaxBytes returns the head of a file that is scanned in full (see
// [Settings]).
func (e *Engine) MaxBytes() int64 { return int64(e.maxBytes) }

// Thresholds returns the thresholds in force.
func (e *Engine) Thresholds() Thresholds { return e.thresholds }

// Weight returns the weight in force of the indicator id (0 if disabled
// or unknown).
func (e *Engine) Weight(id string) int {
	if i, ok := indexByID[id]; ok {
		return e.weights[i]
	}
	return 0
}

// Match is one indicator found in a file.
type Match struct {
	ID          string `json:"id"`
	Weight      int    `json:"weight"`
	Description string `json:"description"`
	// Line is the 1-based line of the first occurrence.
	Line int `json:"line"`
	// Excerpt is a short, escaped excerpt of that line around the
	// occurrence: printable ASCII as is, anything else as \xNN, at most
	// about 80 characters.
	Excerpt string `json:"excerpt"`
	// Count is the number of occurrences seen (the weight counts once).
	Count int `json:"count"`
}

// Result is the verdict on one file.
type Result struct {
	// Family is the language family scanned (by name or by sniffing);
	// FamilyNone: not a script, nothing was scanned.
	Family Family `json:"family"`
	// Score is the sum of the weights of the distinct indicators found.
	Score int `json:"score"`
	// Level grades Score against the engine's thresholds.
	Level Level `json:"level"`
	// Matches are the indicators found, strongest first.
	Matches []Match `json:"indicators"`
	// Size is the number of bytes the file had.
	Size int64 `json:"size"`
	// Truncated says that the file was larger than the scan limit: only
	// its first MaxBytes and last TailBytes were scanned.
	Truncated bool `json:"truncated,omitempty"`
	// Sniffed says that the family was decided by content, not by name.
	Sniffed bool `json:"sniffed,omitempty"`
	// Errors say what could not be looked at, such as a YARA scan that
	// failed or timed out: the result may miss indicators.
	Errors []string `json:"errors,omitempty"`
}

// Has reports whether the indicator id was found.
func (r *Result) Has(id string) bool {
	return slices.ContainsFunc(r.Matches, func(m Match) bool { return m.ID == id })
}

// Add records an indicator found by another engine (a YARA rule, say) and
// updates Score and Level against t.
func (r *Result) Add(m Match, t Thresholds) {
	if i := slices.IndexFunc(r.Matches, func(x Match) bool { return x.ID == m.ID }); i >= 0 {
		r.Matches[i].Count += max(m.Count, 1)
		return
	}
	if m.Count == 0 {
		m.Count = 1
	}
	r.Matches = append(r.Matches, m)
	r.Score += m.Weight
	r.Level = t.Level(r.Score)
	sortMatches(r.Matches)
}

func sortMatches(ms []Match) {
	slices.SortStableFunc(ms, func(a, b Match) int {
		if a.Weight != b.Weight {
			return b.Weight - a.Weight
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
}

// YARAMatch converts a YARA rule match into a Match worth weight. Its id
// is "yara.NAMESPACE.RULE"; a YARA match has no line.
func YARAMatch(m yara.Match, weight int) Match {
	desc := "YARA rule " + m.Rule + " (" + m.Namespace + ")"
	if len(m.Tags) > 0 {
		desc += " tagged " + strings.Join(m.Tags, ", ")
	}
	return Match{ID: "yara." + m.Namespace + "." + m.Rule, Weight: weight, Description: desc, Count: 1}
}

// Scan scans data, the content of a file named name: the family is
// [FamilyOf] the name, or sniffed from the content when the name has no
// script extension.
func (e *Engine) Scan(name string, data []byte) Result {
	s := e.NewScanner()
	s.ResetSize(FamilyOf(name), int64(len(data)))
	s.Write(data)
	return s.Result()
}

// ScanReader scans the content read from r as a file of family fam
// (FamilyNone: sniff). It reads r to the end (the tail of a large file is
// scanned too), keeping only what the limits allow, unless sniffing finds
// that it is not a script: then it stops after [SniffLen] bytes.
func (e *Engine) ScanReader(fam Family, r io.Reader) (Result, error) {
	s := e.NewScanner()
	s.Reset(fam)
	buf := make([]byte, 64<<10)
	for !s.NotScript() {
		n, err := r.Read(buf)
		s.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return Result{}, err
		}
	}
	return s.Result(), nil
}

// ScanFile scans the file at path (see [Engine.Scan] for the family).
func (e *Engine) ScanFile(path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	r, err := e.ScanReader(FamilyOf(path), f)
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	return r, nil
}
