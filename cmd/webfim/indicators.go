package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"

	"webfim/baseline"
	"webfim/config"
	"webfim/indicators"
	"webfim/indicators/yara"
	"webfim/policy"
)

// contentScan returns the indicator engine of the configuration and its
// compiled YARA rules (nil, nil when the indicators are disabled; nil
// rules when it names none). A rule file that does not compile, or a
// missing yara tool, is a usage error placed in the configuration file and
// in the rule file: "webfim.yml:14: indicators.yara.rules[0]:
// rules/x.yar:9 (rule foo): undefined string". The rules are removed when
// the process ends (see atExit).
func contentScan(ctx context.Context, conf *config.Config) (*indicators.Engine, *yara.Rules, error) {
	e, err := conf.Indicators.Engine()
	if err != nil { // validated when loaded: not expected
		return nil, nil, usageError{conf.ErrorAt("indicators", err)}
	}
	ys := conf.Indicators.YARA
	if e == nil || len(ys.Rules) == 0 {
		return e, nil, nil
	}
	rules, err := yara.Compile(ctx, ys)
	if err != nil {
		return nil, nil, usageError{conf.ErrorAt(yaraKey(ys.Rules, err), err)}
	}
	atExit(func() { rules.Close() })
	return e, rules, nil
}

// yaraKey is the key of the configuration a YARA error is about: the
// rule file it names, else the list.
func yaraKey(files []string, err error) string {
	var re *yara.RuleError
	var pe *fs.PathError
	file := ""
	switch {
	case errors.As(err, &re):
		file = re.File
	case errors.As(err, &pe):
		file = pe.Path
	}
	if i := slices.Index(files, file); i >= 0 {
		return fmt.Sprintf("indicators.yara.rules[%d]", i)
	}
	return "indicators.yara.rules"
}

var exitFuncs struct {
	sync.Mutex
	fns []func()
}

// atExit runs fn when the command returns (temporary files of the
// process: compiled YARA rules). A watch daemon reloaded many times keeps
// one compiled set per reload until it stops, which is never in use by
// a check still running.
func atExit(fn func()) {
	exitFuncs.Lock()
	exitFuncs.fns = append(exitFuncs.fns, fn)
	exitFuncs.Unlock()
}

// runExitFuncs runs the functions given to atExit, last first.
func runExitFuncs() {
	exitFuncs.Lock()
	fns := exitFuncs.fns
	exitFuncs.fns = nil
	exitFuncs.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// reportScanned prints, for baseline create, the files of the new
// baseline whose content shows web-shell indicators at medium or above:
// they are about to be trusted.
type scannedReport struct {
	w       io.Writer
	flagged int
}

func (s *scannedReport) record(r baseline.Record) {
	if r.Indicators == nil || r.Indicators.Level < indicators.LevelMedium {
		return
	}
	s.flagged++
	fmt.Fprintf(s.w, "webfim: warning: %s: web-shell indicators in a file about to be trusted: %s\n",
		fullPath(r.Root, r.Path), displayText(policy.IndicatorSummary(r.Indicators)))
}
