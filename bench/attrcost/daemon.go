//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The daemon mode: the real `webfim watch`, with its file output, over a
// root that receives the burst, once with attribution.enabled: false and
// once with true. Its CPU during the burst (from the first write until
// the last of the burst's alerts is in the output file) is read from
// /proc/PID/stat, its peak RSS from VmHWM in /proc/PID/status. Rounds
// alternate which mode goes first.

// daemonSample is one daemon's resource use in a round.
type daemonSample struct {
	cpu, startCPU time.Duration
	rssKB         int64
	alerts        int // documents of the burst's files
	withWriter    int // of those, with process.pid
	elapsed       time.Duration
}

func driveDaemon(webfim, dir string, execs, files, rounds int) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (fanotify and eBPF)")
	}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "attrcost-daemon-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	results := map[bool][]daemonSample{}
	for r := range rounds {
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, on := range order {
			s, err := daemonRound(webfim, dir, on, execs, files)
			if err != nil {
				return err
			}
			results[on] = append(results[on], s)
			fmt.Printf("round %d %-3s daemon burst cpu %.2f s (start-up %.2f s)  peak RSS %.1f MB  alerts %d  with writer %d  last alert after %.1f s\n",
				r+1, mode(on), s.cpu.Seconds(), s.startCPU.Seconds(), float64(s.rssKB)/1024, s.alerts, s.withWriter, s.elapsed.Seconds())
		}
	}
	med := func(ss []daemonSample) daemonSample {
		var cpu, start, elapsed []time.Duration
		var rss []int64
		var withWriter []int
		for _, s := range ss {
			cpu, start, elapsed = append(cpu, s.cpu), append(start, s.startCPU), append(elapsed, s.elapsed)
			rss, withWriter = append(rss, s.rssKB), append(withWriter, s.withWriter)
		}
		return daemonSample{cpu: median(cpu), startCPU: median(start), elapsed: median(elapsed), rssKB: median(rss), withWriter: median(withWriter)}
	}
	off, on := med(results[false]), med(results[true])
	cpuRatio := on.cpu.Seconds() / off.cpu.Seconds()
	rssDelta := float64(on.rssKB-off.rssKB) / 1024
	fmt.Printf("median off: daemon burst cpu %.2f s, peak RSS %.1f MB\n", off.cpu.Seconds(), float64(off.rssKB)/1024)
	fmt.Printf("median on:  daemon burst cpu %.2f s (start-up %.2f s), peak RSS %.1f MB (writer in %d of %d alerts)\n",
		on.cpu.Seconds(), on.startCPU.Seconds(), float64(on.rssKB)/1024, on.withWriter, execs*files)
	fmt.Printf("attribution adds %+.0f%% daemon CPU (ratio on/off %.2f; target < 50%%) and %+.1f MB RSS (target < 30 MB)\n", 100*(cpuRatio-1), cpuRatio, rssDelta)
	fmt.Printf("RESULT mode=daemon execs=%d writes=%d cpu_off_s=%.3f cpu_on_s=%.3f cpu_ratio=%.3f rss_off_mb=%.1f rss_on_mb=%.1f rss_delta_mb=%.1f\n",
		execs, execs*files, off.cpu.Seconds(), on.cpu.Seconds(), cpuRatio, float64(off.rssKB)/1024, float64(on.rssKB)/1024, rssDelta)
	return nil
}

func daemonRound(webfim, dir string, on bool, execs, files int) (daemonSample, error) {
	round, err := os.MkdirTemp(dir, "daemon-")
	if err != nil {
		return daemonSample{}, err
	}
	defer os.RemoveAll(round)
	root := filepath.Join(round, "www")
	if err := os.Mkdir(root, 0o755); err != nil {
		return daemonSample{}, err
	}
	conf := filepath.Join(round, "webfim.yml")
	alerts := filepath.Join(round, "alerts.ndjson")
	yml := fmt.Sprintf("roots:\n  - path: %s\nconfigs: []\nattribution:\n  enabled: %v\noutputs:\n  - type: file\n    path: %s\n", root, on, alerts)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		return daemonSample{}, err
	}
	env := append(os.Environ(), "WEBFIM_DB="+filepath.Join(round, "webfim.db"))
	create := exec.Command(webfim, "--config", conf, "--quiet", "baseline", "create", "--no-discover")
	create.Env = env
	if out, err := create.CombinedOutput(); err != nil {
		return daemonSample{}, fmt.Errorf("baseline create: %v: %s", err, out)
	}
	logPath := filepath.Join(round, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return daemonSample{}, err
	}
	defer logFile.Close()
	cmd := exec.Command(webfim, "--config", conf, "watch", "--no-discover")
	cmd.Env, cmd.Stderr = env, logFile
	if err := cmd.Start(); err != nil {
		return daemonSample{}, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	if !waitFor(60*time.Second, func() bool {
		b, _ := os.ReadFile(logPath)
		return bytes.Contains(b, []byte("msg=watching"))
	}) {
		b, _ := os.ReadFile(logPath)
		return daemonSample{}, fmt.Errorf("%s daemon did not start watching:\n%s", mode(on), b)
	}
	var s daemonSample
	if s.startCPU, err = procCPU(pid); err != nil {
		return s, err
	}
	t0 := time.Now()
	if err := burst(root, execs, files); err != nil {
		return s, err
	}
	want := execs * files
	if !waitFor(10*time.Minute, func() bool {
		s.alerts, s.withWriter = countAlerts(alerts)
		return s.alerts >= want
	}) {
		return s, fmt.Errorf("%s daemon: %d of %d alerts after 10 minutes", mode(on), s.alerts, want)
	}
	s.elapsed = time.Since(t0)
	cpu, err := procCPU(pid)
	if err != nil {
		return s, err
	}
	s.cpu = cpu - s.startCPU
	s.rssKB, err = procHWM(pid)
	return s, err
}

// countAlerts counts the documents about the burst's files (f_I_J) and
// those with a writer.
func countAlerts(path string) (n, withWriter int) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"name":"f_`)) || !bytes.HasSuffix(bytes.TrimSpace(line), []byte("}")) {
			continue
		}
		n++
		if bytes.Contains(line, []byte(`"process":{`)) {
			withWriter++
		}
	}
	return n, withWriter
}

// procCPU is a process's user and system time, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the comm, which may hold spaces: state is field 3,
	// utime 14 and stime 15.
	rest := b[bytes.LastIndexByte(b, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticks = 100 // USER_HZ
	return time.Duration(ut+st) * time.Second / ticks, nil
}

// procHWM is a process's peak RSS in KiB (VmHWM).
func procHWM(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}
