package alert

import (
	"strings"

	"webfim/baseline"
	"webfim/indicators"
)

// indicatorFields writes the web-shell indicators of a file's new content
// (set by the hashing pass, see baseline.Record.Indicators):
// webfim.indicators.* always, and threat.indicator.* when something was
// found. A removal or a metadata change has no new content to show.
func indicatorFields(d Document, c baseline.Change, path string) {
	if c.Kind == baseline.Removed || c.Kind == baseline.MetadataChanged || c.New == nil || c.New.Indicators == nil {
		return
	}
	r := c.New.Indicators
	d["webfim.indicators.score"] = r.Score
	d["webfim.indicators.level"] = r.Level.String()
	d["webfim.indicators.family"] = r.Family.String()
	if r.Sniffed {
		d["webfim.indicators.sniffed"] = true
	}
	if r.Truncated {
		d["webfim.indicators.truncated"] = true
	}
	d.set("webfim.indicators.errors", r.Errors)
	if len(r.Matches) == 0 {
		return
	}
	// One object per indicator, strongest first: the fields belong
	// together (map webfim.indicators.matches as nested to query them so).
	matches := make([]any, 0, len(r.Matches))
	ids := make([]string, 0, len(r.Matches))
	for _, m := range r.Matches {
		o := map[string]any{"id": m.ID, "weight": m.Weight, "count": m.Count, "description": m.Description}
		if m.Line > 0 {
			o["line"] = m.Line
		}
		if m.Excerpt != "" {
			o["excerpt"] = m.Excerpt
		}
		matches = append(matches, o)
		ids = append(ids, m.ID)
	}
	d["webfim.indicators.matches"] = matches
	// The file is the indicator (a STIX "file" observable), found by
	// webfim's own analysis; confidence follows the level.
	d["threat.indicator.type"] = "file"
	d.set("threat.indicator.name", path)
	d["threat.indicator.provider"] = "webfim"
	d["threat.indicator.confidence"] = confidence[r.Level]
	d["threat.indicator.id"] = ids
	d["threat.indicator.description"] = "web-shell content indicators: " + strings.Join(ids, ", ")
}

// confidence maps a level to ECS threat.indicator.confidence (the STIX
// 2.1 None/Low/Medium/High scale).
var confidence = map[indicators.Level]string{
	indicators.LevelNone: "None", indicators.LevelLow: "Low", indicators.LevelMedium: "Medium", indicators.LevelHigh: "High",
}
