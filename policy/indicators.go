package policy

import (
	"fmt"
	"strings"

	"webfim/baseline"
	"webfim/indicators"
)

// withIndicators raises the verdict v of a file change by the web-shell
// indicators of the new content (baseline.Record.Indicators, set by the
// hashing pass): a score at the medium threshold makes the finding at
// least medium, at the high threshold at least the severity of
// [RuleWebShellIndicators] (high), in a deploy window or not; the rule
// then becomes webfim-025. A verdict that says as much or more keeps its
// rule (a script in a no-script zone stays critical), and any score is
// named in the reason. A path that is ignored never gets here.
func (p *Policy) withIndicators(c baseline.Change, v Verdict) Verdict {
	switch c.Kind {
	case baseline.Added, baseline.Moved, baseline.ContentChanged:
	default: // no new content
		return v
	}
	if c.New == nil || c.New.Indicators == nil || c.New.Indicators.Score == 0 {
		return v
	}
	res := c.New.Indicators
	sev, raise := p.indicatorSeverity(res)
	if !raise || (v.Alert && !v.Drop && v.Severity >= sev) {
		v.Reason += "; its content shows web-shell indicators: " + IndicatorSummary(res)
		return v
	}
	r, _ := RuleByID(RuleWebShellIndicators)
	return Verdict{
		RuleID: r.ID, RuleName: r.Name, Severity: sev, RiskScore: sev.RiskScore(), Alert: true,
		Reason: v.Reason + "; but its content shows web-shell indicators: " + IndicatorSummary(res),
	}
}

// indicatorSeverity is the least severity a finding with the indicators
// res has, and whether it has one: medium for a score at the medium
// threshold, the severity of webfim-025 (high unless overridden) at the
// high threshold, none below medium or with webfim-025 disabled.
func (p *Policy) indicatorSeverity(res *indicators.Result) (Severity, bool) {
	if res.Level < indicators.LevelMedium {
		return Info, false
	}
	r, _ := RuleByID(RuleWebShellIndicators)
	sev := r.Severity
	if s, ok := p.Rules[r.ID]; ok {
		if !s.Enabled {
			return Info, false
		}
		if s.Severity != 0 {
			sev = s.Severity
		}
	}
	if res.Level == indicators.LevelMedium {
		sev = min(sev, Medium)
	}
	return sev, true
}

// IndicatorSummary says in a few words what the indicators of a file
// are: "score 100, high: php.request-exec (line 2), php.exec (line 2)",
// naming the three strongest.
func IndicatorSummary(res *indicators.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "score %d, %s", res.Score, res.Level)
	for i, m := range res.Matches {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more", len(res.Matches)-i)
			break
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep + m.ID)
		if m.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", m.Line)
		}
	}
	if res.Truncated {
		b.WriteString(" (large file: its start and end were scanned)")
	}
	return b.String()
}
