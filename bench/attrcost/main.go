//go:build linux

// Command attrcost measures what process attribution costs a watcher: a
// burst of file writes made by short-lived processes is watched twice, by
// a child process with attribution off and with it on, and the child's
// CPU seconds and peak RSS are compared.
//
// The child stands in for the watch daemon's per-path work: inotify
// (fsnotify) hints on the directory, then, every 100 ms, an lstat and a
// BLAKE3 hash of each changed path (baseline.Stat). With -child on it also
// runs the process table (the best exec source, with the web-server
// lineage rules on every exec) and fanotify writer attribution, and looks
// up the writer of every changed path.
//
// Usage:
//
//	attrcost [-execs 2000] [-files 5] [-rounds 3] [-dir DIR] [-daemon WEBFIM]
//
// With -daemon, the real daemon is measured instead: WEBFIM watch with
// attribution.enabled false, then true (daemon.go).
//
// The burst is -execs processes `sh -c 'echo x > f_I_1; ... > f_I_5'`
// (-files each: 2,000 x 5 = 10,000 writes by default). The CPU compared
// is the watcher's during the burst (its start-up, loading BTF and the
// programs and reading /proc, is printed apart: a daemon pays it once);
// the peak RSS is the whole run's. Rounds alternate which mode goes
// first; medians are printed with the ratio on/off, and a last RESULT
// line of key=value pairs. The watcher with attribution on also pays for
// the rest of the machine: every exec, and every file event on the
// root's filesystem (both counted in the output). Needs root.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"webfim/baseline"
	"webfim/lineage"
	"webfim/proc"
	"webfim/writer"
)

func main() {
	child := flag.String("child", "", "run as the watcher: off or on")
	dir := flag.String("dir", "", "directory to write into (default: a new temporary one)")
	execs := flag.Int("execs", 2000, "short-lived writer processes")
	files := flag.Int("files", 5, "files written by each process")
	rounds := flag.Int("rounds", 3, "rounds (each runs off and on)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the watcher with attribution on to this file")
	daemon := flag.String("daemon", "", "measure this webfim binary's watch daemon instead of the stand-in (see daemon.go)")
	flag.Parse()
	var err error
	switch {
	case *child != "":
		err = watch(*dir, *child == "on", *profile)
	case *daemon != "":
		err = driveDaemon(*daemon, *dir, *execs, *files, *rounds)
	default:
		err = drive(*dir, *execs, *files, *rounds, *profile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "attrcost:", err)
		os.Exit(1)
	}
}

// sample is one child's resource use.
type sample struct {
	cpu      time.Duration // during the burst (after start-up)
	startCPU time.Duration // to start
	totalCPU time.Duration // the whole run, from wait4
	rssKB    int64
	checked  int // paths checked
	written  int // of those, with a writer (on only)
	// With attribution on: fanotify events read on the whole filesystem,
	// those under the root, and execs seen on the whole machine (other
	// work on the machine is paid for too).
	events, inRoots, execs int
}

func drive(dir string, execs, files, rounds int, profile string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (fanotify and eBPF)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "attrcost-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	results := map[bool][]sample{}
	for r := range rounds {
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, on := range order {
			s, err := runRound(self, dir, on, execs, files, profile)
			if err != nil {
				return err
			}
			results[on] = append(results[on], s)
			fmt.Printf("round %d %-3s burst cpu %.2f s (start-up %.2f s, whole run %.2f s)  peak RSS %.1f MB  paths %d  with writer %d  fanotify events %d (under the root %d)  execs %d\n",
				r+1, mode(on), s.cpu.Seconds(), s.startCPU.Seconds(), s.totalCPU.Seconds(), float64(s.rssKB)/1024, s.checked, s.written, s.events, s.inRoots, s.execs)
		}
	}
	off, on := medians(results[false]), medians(results[true])
	cpuRatio := on.cpu.Seconds() / off.cpu.Seconds()
	rssDelta := float64(on.rssKB-off.rssKB) / 1024
	fmt.Printf("median off: burst cpu %.2f s, peak RSS %.1f MB\n", off.cpu.Seconds(), float64(off.rssKB)/1024)
	fmt.Printf("median on:  burst cpu %.2f s (start-up %.2f s), peak RSS %.1f MB (writers found for %d of %d paths)\n", on.cpu.Seconds(), on.startCPU.Seconds(), float64(on.rssKB)/1024, on.written, on.checked)
	fmt.Printf("attribution adds %+.0f%% CPU (target < 50%%) and %+.1f MB RSS (target < 30 MB)\n", 100*(cpuRatio-1), rssDelta)
	fmt.Printf("RESULT execs=%d writes=%d cpu_off_s=%.3f cpu_on_s=%.3f cpu_ratio=%.3f rss_off_mb=%.1f rss_on_mb=%.1f rss_delta_mb=%.1f\n",
		execs, execs*files, off.cpu.Seconds(), on.cpu.Seconds(), cpuRatio, float64(off.rssKB)/1024, float64(on.rssKB)/1024, rssDelta)
	return nil
}

func mode(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// medians takes the median of each measure separately.
func medians(ss []sample) sample {
	var cpu, start []time.Duration
	var rss []int64
	var checked, written []int
	for _, s := range ss {
		cpu, rss, start = append(cpu, s.cpu), append(rss, s.rssKB), append(start, s.startCPU)
		checked, written = append(checked, s.checked), append(written, s.written)
	}
	return sample{cpu: median(cpu), startCPU: median(start), rssKB: median(rss), checked: median(checked), written: median(written)}
}

func median[T int | int64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

// runRound starts a watcher child, makes the burst, stops the child once
// it has checked every path, and returns its resource use.
func runRound(self, dir string, on bool, execs, files int, profile string) (sample, error) {
	round, err := os.MkdirTemp(dir, "round-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(round)
	cmd := exec.Command(self, "-child", mode(on), "-dir", round)
	if on && profile != "" {
		cmd.Args = append(cmd.Args, "-cpuprofile", profile)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	lines := bufio.NewScanner(out)
	var s sample
	var startUs int64
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "ready") {
		cmd.Process.Kill()
		cmd.Wait()
		return sample{}, fmt.Errorf("watcher did not start: %q", lines.Text())
	}
	fmt.Sscanf(lines.Text(), "ready %d", &startUs)
	s.startCPU = time.Duration(startUs) * time.Microsecond
	if err := burst(round, execs, files); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return sample{}, err
	}
	cmd.Process.Signal(syscall.SIGTERM)
	var burstUs int64
	for lines.Scan() {
		fmt.Sscanf(lines.Text(), "checked %d written %d events %d inroots %d execs %d cpu_us %d", &s.checked, &s.written, &s.events, &s.inRoots, &s.execs, &burstUs)
	}
	if err := cmd.Wait(); err != nil {
		return sample{}, fmt.Errorf("watcher: %w", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	s.cpu = time.Duration(burstUs) * time.Microsecond
	s.totalCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s.rssKB = ru.Maxrss
	if want := execs * files; s.checked != want {
		return s, fmt.Errorf("%s watcher checked %d paths, want %d", mode(on), s.checked, want)
	}
	return s, nil
}

// burst runs execs short-lived processes `sh -c 'echo x > f_I_0; ...'`
// in dir, each writing files files.
func burst(dir string, execs, files int) error {
	var script strings.Builder
	fmt.Fprintf(&script, "cd %q || exit 1\ni=0\nwhile [ $i -lt %d ]; do\n\tsh -c '", dir, execs)
	for j := range files {
		fmt.Fprintf(&script, "echo x > f_'$i'_%d; ", j)
	}
	script.WriteString("'\n\ti=$((i+1))\ndone\n")
	if out, err := exec.Command("/bin/sh", "-c", script.String()).CombinedOutput(); err != nil {
		return fmt.Errorf("burst: %v: %s", err, out)
	}
	return nil
}

// watch is the child: fsnotify hints, a check of each changed path every
// 100 ms, and with attribution on, a writer lookup for each.
func watch(dir string, on bool, profile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return err
	}
	var tracker *writer.Tracker
	var mon *proc.Monitor
	if on {
		rules, err := lineage.NewRules(0, lineage.DefaultAllow)
		if err != nil {
			return err
		}
		// Not ctx: the monitor must outlive SIGTERM until the last
		// lookups are done.
		mon, err = proc.Start(context.Background(), proc.Options{
			Table:  proc.TableOptions{IsServer: lineage.IsServer},
			OnExec: rules.Hook(func(lineage.Finding) {}),
		})
		if err != nil {
			return err
		}
		defer mon.Close()
		tracker = writer.New([]string{dir}, mon, writer.Options{})
		defer tracker.Close()
		if !tracker.Status().Available() {
			return errors.New(tracker.Status().String())
		}
		fmt.Fprintf(os.Stderr, "attrcost: exec source %v\n", mon.Status())
	}
	// The watcher's own CPU from here on is the burst's cost; what it
	// used to start (BTF, loading programs, reading /proc) is reported
	// apart.
	startCPU := selfCPU()
	fmt.Printf("ready %d\n", startCPU.Microseconds())
	dirty := map[string]bool{}
	checked, written := map[string]bool{}, map[string]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	flush := func() {
		for rel := range dirty {
			if _, err := baseline.Stat(dir, rel, baseline.Options{}, nil); err != nil {
				continue
			}
			checked[rel] = true
			if tracker != nil {
				if rec, ok := tracker.Lookup(dir, rel); ok && (rec.Written != nil && rec.Written.Process != nil || rec.Created != nil && rec.Created.Process != nil) {
					written[rel] = true
				}
			}
		}
		clear(dirty)
	}
	for {
		select {
		case ev := <-w.Events:
			dirty[filepath.Base(ev.Name)] = true
		case err := <-w.Errors:
			return err
		case <-tick.C:
			flush()
		case <-ctx.Done():
			// Read what is still queued, then report.
			for drained := false; !drained; {
				select {
				case ev := <-w.Events:
					dirty[filepath.Base(ev.Name)] = true
				case <-time.After(200 * time.Millisecond):
					drained = true
				}
			}
			flush()
			var events, inRoots, execs uint64
			if on {
				missed := 0
				for rel := range checked {
					if !written[rel] && missed < 3 {
						missed++
						rec, ok := tracker.Lookup(dir, rel)
						fmt.Fprintf(os.Stderr, "attrcost: no writer for %s at its check; now: %v %+v %+v\n", rel, ok, rec.Created, rec.Written)
					}
				}
				ts, ms := tracker.Stats(), mon.Stats()
				events, inRoots, execs = ts.Events, ts.InRoots, ms.Execs
			}
			fmt.Printf("checked %d written %d events %d inroots %d execs %d cpu_us %d\n", len(checked), len(written), events, inRoots, execs, (selfCPU() - startCPU).Microseconds())
			return nil
		}
	}
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
