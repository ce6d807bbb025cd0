package alert

import (
	"strconv"

	"webfim/policy"
)

// BaselineUntrusted says that the watch daemon, which requires signed
// baselines, refuses a baseline that became active (or that it
// re-verified): it is not signed by a trusted key, differs from what was
// signed, or is older than the newest signed baseline seen (a replay).
// v is the policy's verdict (rule webfim-031, [policy.Policy.EvaluateBaseline]),
// its reason what is wrong; env's baseline is the one changes are still
// judged against (the last verified one); id and label name the refused
// one.
func BaselineUntrusted(id uint64, label string, v policy.Verdict, env Env) Document {
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
	d := base(env)
	verdictFields(d, v)
	d["event.category"] = []string{"configuration"}
	d["event.type"] = []string{"change"}
	d["event.action"] = "baseline-untrusted"
	d["event.outcome"] = "failure"
	d["message"] = message(v, name+" is not trusted") + "; " + judged
	d["webfim.trust.baseline.id"] = id
	d.set("webfim.trust.baseline.label", label)
	d["event.id"] = digest("baseline-untrusted", strconv.FormatUint(id, 10), v.Reason, timestamp(env.Now))
	return d
}
