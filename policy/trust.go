package policy

// EvaluateBaseline judges a baseline that require_signed refuses (rule
// webfim-031): reason says what is wrong with it (not signed by a
// trusted key, differs from its signed digest, a replay). Deploy windows
// do not apply: a baseline is trusted or not whenever it changes.
func (p *Policy) EvaluateBaseline(reason string) Verdict {
	r, _ := RuleByID(RuleUntrustedBaseline)
	v, enabled := p.ruleVerdict(r, reason)
	if enabled {
		v.Reason = reason
	}
	return v
}
