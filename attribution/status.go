package attribution

import (
	"fmt"
	"strings"

	"webfim/alert"
	"webfim/proc"
	"webfim/writer"
)

// Status says which attribution mechanisms work.
type Status struct {
	Process proc.Status
	Writer  writer.Status
	// Watching is set once writer attribution was started (Watch).
	Watching bool
}

// Degradation is a mechanism that does not work fully, and the exact
// reason.
type Degradation struct {
	Mechanism string // alert.MechanismProcess or alert.MechanismWriter
	Reason    string
}

// Summary is one line for the start-up log: "processes: ebpf; writers:
// fanotify on 2 of 2 roots".
func (st Status) Summary() string {
	out := "processes: " + st.Process.Source.String()
	if st.Process.Degraded() {
		out += " (degraded)"
	}
	if st.Watching {
		if st.Writer.Err != nil {
			out += "; writers: unavailable"
		} else {
			ok := 0
			for _, r := range st.Writer.Roots {
				if r.Err == nil {
					ok++
				}
			}
			out += fmt.Sprintf("; writers: fanotify on %d of %d roots", ok, len(st.Writer.Roots))
		}
	}
	return out
}

// Degraded lists the mechanisms that do not work fully, with the exact
// reason: an exec source better than the running one that could not
// start (or none at all), writer attribution that is refused, for all
// roots or some.
func (st Status) Degraded() []Degradation {
	var out []Degradation
	if r := processReason(st.Process); r != "" {
		out = append(out, Degradation{Mechanism: alert.MechanismProcess, Reason: r})
	}
	if st.Watching {
		if r := writerReason(st.Writer); r != "" {
			out = append(out, Degradation{Mechanism: alert.MechanismWriter, Reason: r})
		}
	}
	return out
}

// processReason says why the sources better than the running one did
// not start, grouping the sources that failed alike ("ebpf, connector,
// poll: windows: not supported on this platform").
func processReason(st proc.Status) string {
	var groups []string
	byErr := map[string][]string{}
	for _, a := range st.Attempts {
		if a.Err == nil {
			continue
		}
		msg := a.Err.Error()
		if _, ok := byErr[msg]; !ok {
			groups = append(groups, msg)
		}
		byErr[msg] = append(byErr[msg], a.Source.String())
	}
	if len(groups) == 0 {
		return ""
	}
	parts := make([]string, len(groups))
	for i, msg := range groups {
		parts[i] = strings.Join(byErr[msg], ", ") + ": " + msg
	}
	out := strings.Join(parts, "; ")
	switch st.Source {
	case proc.SourceNone:
		out += "; no exec source: processes are read from /proc only when a file event names them"
	case proc.SourceConnector:
		out += "; using the process connector"
	case proc.SourcePoll:
		out += "; polling /proc: processes that live shorter than the poll interval are missed"
	default:
		out += "; using " + st.Source.String()
	}
	return out
}

// writerReason says why writer attribution is off, for every root or
// for those it cannot cover.
func writerReason(st writer.Status) string {
	if st.Err != nil {
		return st.Err.Error()
	}
	var bad []string
	for _, r := range st.Roots {
		if r.Err != nil {
			bad = append(bad, r.Root+": "+r.Err.Error())
		}
	}
	return strings.Join(bad, "; ")
}
