package alert

import (
	"fmt"
	"strconv"

	"webfim/policy"
)

// MITRE ATT&CK for a baseline that is not what was signed: the attacker
// re-baselines, replays or edits the reference the monitor compares with.
var (
	defenseEvasion   = policy.Technique{ID: "TA0005", Name: "Defense Evasion", Reference: "https://attack.mitre.org/tactics/TA0005/"}
	impairDefenses   = policy.Technique{ID: "T1562", Name: "Impair Defenses", Reference: "https://attack.mitre.org/techniques/T1562/"}
	disableOrModTool = policy.Technique{ID: "T1562.001", Name: "Disable or Modify Tools", Reference: "https://attack.mitre.org/techniques/T1562/001/"}
)

// BaselineUntrusted says that the watch daemon, which requires signed
// baselines, refuses a baseline that became active (or that it
// re-verified): it is not signed by a trusted key, differs from what was
// signed, or is older than the newest signed baseline seen (a replay).
// env's baseline is the one changes are still judged against (the last
// verified one); id and label name the refused one; reason says what is
// wrong.
func BaselineUntrusted(id uint64, label, reason string, env Env) Document {
	name := "baseline " + strconv.FormatUint(id, 10)
	if label != "" {
		name += " " + strconv.Quote(label)
	}
	judged := "changes are still judged against it (there is no other trusted baseline to fall back on)"
	if env.BaselineID != id {
		judged = "changes are judged against baseline " + strconv.FormatUint(env.BaselineID, 10)
		if env.BaselineLabel != "" {
			judged += " " + strconv.Quote(env.BaselineLabel)
		}
		judged += ", the last verified one"
	}
	msg := fmt.Sprintf("Untrusted baseline: %s is not trusted: %s; %s", name, reason, judged)
	d := base(env)
	d["event.kind"] = "alert"
	d["event.category"] = []string{"configuration"}
	d["event.type"] = []string{"change"}
	d["event.action"] = "baseline-untrusted"
	d["event.outcome"] = "failure"
	d["event.severity"] = int(policy.High)
	d["event.risk_score"] = policy.High.RiskScore()
	d["event.risk_score_norm"] = policy.High.RiskScore()
	d["event.reason"] = reason
	d["message"] = msg
	d["webfim.trust.baseline.id"] = id
	d.set("webfim.trust.baseline.label", label)
	d["threat.framework"] = "MITRE ATT&CK"
	d["threat.tactic.id"] = []string{defenseEvasion.ID}
	d["threat.tactic.name"] = []string{defenseEvasion.Name}
	d["threat.tactic.reference"] = []string{defenseEvasion.Reference}
	d["threat.technique.id"] = []string{impairDefenses.ID}
	d["threat.technique.name"] = []string{impairDefenses.Name}
	d["threat.technique.reference"] = []string{impairDefenses.Reference}
	d["threat.technique.subtechnique.id"] = []string{disableOrModTool.ID}
	d["threat.technique.subtechnique.name"] = []string{disableOrModTool.Name}
	d["threat.technique.subtechnique.reference"] = []string{disableOrModTool.Reference}
	d["event.id"] = digest("baseline-untrusted", strconv.FormatUint(id, 10), reason, timestamp(env.Now))
	return d
}
