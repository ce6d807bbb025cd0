package policy

// EvaluateSpawn judges a server process spawning a shell or a
// reconnaissance tool (package lineage found it; what describes the
// spawn, e.g. `"apache2" (web server) spawned "whoami" (reconnaissance):
// apache2(812) -> dash(9001) -> whoami(9002)`). Deploy windows do not
// apply to it; the rule's settings in `rules` do.
func (p *Policy) EvaluateSpawn(what string, ctx Context) Verdict {
	ctx.Writer = nil // allowed writers are about files
	return p.decide(RuleServerSpawn, what, ctx)
}
