package policy

import (
	"strings"
	"testing"
)

func TestEvaluateBaseline(t *testing.T) {
	p := Default()
	v := p.EvaluateBaseline("it is not signed")
	if v.RuleID != RuleUntrustedBaseline || !v.Alert || v.Drop || v.Severity != High || v.RiskScore != High.RiskScore() || v.Reason != "it is not signed" {
		t.Errorf("default verdict %+v", v)
	}
	p.Rules[RuleUntrustedBaseline] = RuleSetting{Enabled: true, Severity: Critical}
	if v := p.EvaluateBaseline("x"); v.Severity != Critical || v.RiskScore != Critical.RiskScore() {
		t.Errorf("severity override not applied: %+v", v)
	}
	p.Rules[RuleUntrustedBaseline] = RuleSetting{Enabled: false}
	if v := p.EvaluateBaseline("x"); !v.Drop || v.Alert || !strings.Contains(v.Reason, "webfim-031 is disabled") {
		t.Errorf("disabled rule: %+v", v)
	}
}
