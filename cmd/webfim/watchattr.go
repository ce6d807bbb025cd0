package main

import (
	"context"
	"fmt"

	"webfim/alert"
	"webfim/attribution"
	"webfim/config"
	"webfim/watch"
)

// daemonAttribution puts package attribution behind the daemon's port
// (watch.Attributor).
type daemonAttribution struct{ *attribution.Service }

func (a daemonAttribution) Watch(roots []string) watch.AttributionStatus {
	st := a.Service.Watch(roots)
	out := watch.AttributionStatus{Summary: st.Summary()}
	for _, g := range st.Degraded() {
		out.Degraded = append(out.Degraded, watch.Degradation{Mechanism: g.Mechanism, Reason: g.Reason})
	}
	return out
}

func (a daemonAttribution) File(root, rel string) *alert.FileProcesses {
	return a.Service.File(root, rel)
}

// startAttribution starts process attribution as the config says: nil
// when it is disabled. A mechanism the system refuses is no error: the
// daemon reports it.
func startAttribution(ctx context.Context, conf *config.Config) (*attribution.Service, error) {
	a := conf.Attribution
	if !a.Enabled {
		return nil, nil
	}
	rules, err := a.Rules()
	if err != nil {
		return nil, fmt.Errorf("attribution: %w", err)
	}
	s, err := attribution.Start(ctx, attribution.Options{Sources: a.Sources(), KernelBTF: a.KernelBTF, Rules: rules})
	if err != nil {
		return nil, fmt.Errorf("attribution: %w", err)
	}
	return s, nil
}
