package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBaselineUntrusted(t *testing.T) {
	s := loadECS(t)
	env := testEnv() // judged against baseline 7 "v2.3.0"
	reason := "it is not signed"
	d := BaselineUntrusted(9, "watch-initial", reason, env)
	if d.Kind() != "alert" || d["event.severity"] != 3 || d["event.reason"] != reason {
		t.Errorf("kind %v, severity %v, reason %v", d.Kind(), d["event.severity"], d["event.reason"])
	}
	msg := d["message"].(string)
	if !strings.Contains(msg, `baseline 9 "watch-initial" is not trusted: it is not signed`) || !strings.Contains(msg, `judged against baseline 7 "v2.3.0"`) {
		t.Errorf("message %q does not name both baselines and the reason", msg)
	}
	body, _ := json.Marshal(d)
	for _, e := range validateECS(s, body) {
		t.Error(e)
	}
	golden(t, "trust-baseline-untrusted", d)

	// The baseline judged against is the one re-verified.
	same := BaselineUntrusted(7, "v2.3.0", "its records differ from the signed digest", env)
	if !strings.Contains(same["message"].(string), "still judged against it") {
		t.Errorf("message %q", same["message"])
	}
	later := env
	later.Now = env.Now.Add(time.Minute)
	if BaselineUntrusted(9, "watch-initial", reason, later).ID() == d.ID() || same.ID() == d.ID() {
		t.Error("distinct refusals share an event.id")
	}
}
