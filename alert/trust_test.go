package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"webfim/policy"
)

func TestBaselineUntrusted(t *testing.T) {
	s := loadECS(t)
	env := testEnv() // judged against baseline 7 "v2.3.0"
	reason := "it is not signed"
	p := policy.Default()
	d := BaselineUntrusted(9, "watch-initial", p.EvaluateBaseline(reason), env)
	if d.Kind() != "alert" || d["event.severity"] != 3 || d["event.reason"] != reason || d["rule.id"] != policy.RuleUntrustedBaseline || d["threat.tactic.id"].([]string)[0] != "TA0005" {
		t.Errorf("kind %v, severity %v, reason %v, rule %v, tactic %v", d.Kind(), d["event.severity"], d["event.reason"], d["rule.id"], d["threat.tactic.id"])
	}
	msg := d["message"].(string)
	if !strings.HasPrefix(msg, `High alert webfim-031 (Untrusted baseline): baseline 9 "watch-initial" is not trusted: it is not signed; `) || !strings.Contains(msg, `judged against baseline 7 "v2.3.0"`) {
		t.Errorf("message %q does not name both baselines and the reason", msg)
	}
	body, _ := json.Marshal(d)
	for _, e := range validateECS(s, body) {
		t.Error(e)
	}
	// (its golden document: TestGoldenDocuments)

	// The baseline judged against is the one re-verified.
	same := BaselineUntrusted(7, "v2.3.0", p.EvaluateBaseline("its records differ from the signed digest"), env)
	if !strings.Contains(same["message"].(string), "still judged against it") {
		t.Errorf("message %q", same["message"])
	}
	later := env
	later.Now = env.Now.Add(time.Minute)
	if BaselineUntrusted(9, "watch-initial", p.EvaluateBaseline(reason), later).ID() == d.ID() || same.ID() == d.ID() {
		t.Error("distinct refusals share an event.id")
	}
}
