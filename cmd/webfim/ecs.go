package main

import (
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"webfim/alert"
	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
	"webfim/store"
)

// ecsReporter judges each change with the policy and writes it as one ECS
// document per line (diff --format ecs): alerts for findings, events for
// expected changes; ignored paths and disabled rules are left out.
type ecsReporter struct {
	w   io.Writer
	pol *policy.Policy
	ctx policy.Context
	env alert.Env
}

func newECSReporter(c *cli.Context) (*ecsReporter, error) {
	pol, err := loadPolicy(c.String("config"))
	if err != nil {
		return nil, err
	}
	windows, err := adhocWindows(c, false)
	if err != nil {
		return nil, err
	}
	env := alert.DefaultEnv(version)
	env.RootNames = pol.RootNames()
	return &ecsReporter{w: c.App.Writer, pol: pol, ctx: pol.ContextAt(time.Now(), windows, nil), env: env}, nil
}

func (r *ecsReporter) begin(from store.Meta, to *store.Meta) error {
	r.env.BaselineID, r.env.BaselineLabel = from.ID, from.Label
	return nil
}

func (r *ecsReporter) write(d alert.Document) error {
	b, err := d.Encode()
	if err != nil {
		return err
	}
	_, err = r.w.Write(append(b, '\n'))
	return err
}

func (r *ecsReporter) file(ch baseline.Change) error {
	v := r.pol.EvaluateFile(ch, r.ctx)
	if v.Drop {
		return nil
	}
	r.env.Now = time.Now()
	return r.write(alert.FromFileChange(ch, v, r.env))
}

func (r *ecsReporter) item(ch serverconf.Change) error {
	v := r.pol.EvaluateItem(ch, r.ctx)
	if v.Drop {
		return nil
	}
	r.env.Now = time.Now()
	return r.write(alert.FromItemChange(ch, v, r.env))
}

func (r *ecsReporter) end(scan.Result) error { return nil }
