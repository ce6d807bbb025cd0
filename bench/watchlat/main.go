// Command watchlat drives `webfim watch` for the daemon benchmarks of
// bench/watch.sh: it starts the daemon itself with its alerts on a pipe
// (--output stdout), so the moment an alert line arrives is known exactly,
// changes the watched root, and matches the alerts to the changes by
// file.path.
//
// Usage:
//
//	watchlat latency [-n N] [-rate R] [-dir DIR] [flags] -- WEBFIM_COMMAND...
//	watchlat burst -copy SRC -dir DST [flags] -- WEBFIM_COMMAND...
//	watchlat compare -alerts ALERTS.ndjson -diff DIFF.ndjson
//
// latency writes N new files DIR/f0001.html, ... paced at R per second
// (each one a new path, so every write must give its own alert) and
// reports the time from each write to its alert line: p50, p99, max.
//
// burst runs `cp -r SRC DST` once the daemon watches, waits until the
// alerts stop (no alert for -quiet after the copy ended), and reports the
// time from the start of the copy to the last alert.
//
// compare checks the alerts saved by burst (-save) against a
// `webfim diff --format ndjson` taken afterwards: every added entry alerted
// exactly once, nothing lost, nothing extra.
//
// The last line of each subcommand is a RESULT line of key=value pairs for
// bench/watch.sh to parse.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "latency":
		err = latencyMain(os.Args[2:])
	case "burst":
		err = burstMain(os.Args[2:])
	case "compare":
		err = compareMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchlat:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  watchlat latency [-n N] [-rate R] [-dir DIR] [flags] -- WEBFIM_COMMAND...
  watchlat burst -copy SRC -dir DST [flags] -- WEBFIM_COMMAND...
  watchlat compare -alerts ALERTS.ndjson -diff DIFF.ndjson`)
	os.Exit(2)
}

// alert is the part of an ECS document watchlat looks at.
type alert struct {
	Event struct {
		Action string `json:"action"`
		Kind   string `json:"kind"`
	} `json:"event"`
	File struct {
		Path string `json:"path"`
	} `json:"file"`
	Webfim struct {
		Change struct {
			Kind string `json:"kind"`
		} `json:"change"`
	} `json:"webfim"`
}

// line is one alert line of the daemon's stdout and when it was read.
type line struct {
	at    time.Time
	text  []byte
	alert alert
	err   error
}

// daemon is a running `webfim watch` whose stdout is read line by line.
type daemon struct {
	cmd   *exec.Cmd
	lines chan line     // closed at EOF of stdout
	ready chan struct{} // closed when stderr logged "watching"
	// caughtUp is closed when stderr logged the end of the start-up
	// (catch-up) rescan, after which the root is quiet.
	caughtUp chan struct{}
	exited   chan struct{}
	waitErr  error
	save     io.Writer
}

// startDaemon starts argv with stdout on a pipe; stderr is copied to
// logPath (the daemon's log) and scanned for its start-up lines.
func startDaemon(argv []string, logPath string, save io.Writer) (*daemon, error) {
	if len(argv) == 0 {
		return nil, errors.New("no webfim command after --")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	d := &daemon{
		cmd: cmd, lines: make(chan line, 1<<16), ready: make(chan struct{}),
		caughtUp: make(chan struct{}), exited: make(chan struct{}), save: save,
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var readyOnce, caughtUpOnce sync.Once
		for sc.Scan() {
			t := sc.Text()
			fmt.Fprintln(logf, t)
			if isLogMsg(t, "watching") {
				readyOnce.Do(func() { close(d.ready) })
			}
			if isLogMsg(t, "rescan done") && strings.Contains(t, "startup") {
				caughtUpOnce.Do(func() { close(d.caughtUp) })
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer close(d.lines)
		r := bufio.NewReaderSize(stdout, 1<<20)
		for {
			b, err := r.ReadBytes('\n')
			if len(b) > 0 {
				at := time.Now()
				if d.save != nil {
					d.save.Write(b)
				}
				l := line{at: at, text: b}
				l.err = json.Unmarshal(b, &l.alert)
				d.lines <- l
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		wg.Wait() // both pipes at EOF before Wait closes them
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// isLogMsg tells whether a log line (text or JSON slog format) has msg.
func isLogMsg(logLine, msg string) bool {
	if strings.Contains(logLine, `"msg":"`+msg+`"`) {
		return true
	}
	if strings.Contains(msg, " ") {
		return strings.Contains(logLine, `msg="`+msg+`"`)
	}
	return strings.Contains(logLine, "msg="+msg+" ")
}

// waitStarted waits until the daemon watches and its catch-up scan is done.
func (d *daemon) waitStarted(timeout time.Duration) error {
	deadline := time.After(timeout)
	for _, ch := range []chan struct{}{d.ready, d.caughtUp} {
		select {
		case <-ch:
		case <-d.exited:
			return fmt.Errorf("webfim watch exited before it was watching: %v", d.waitErr)
		case <-deadline:
			return fmt.Errorf("webfim watch did not finish its start-up within %v", timeout)
		}
	}
	return nil
}

// stop interrupts the daemon (it then drains its outbox to stdout, which
// the caller keeps reading until d.lines is closed); it is killed if it has
// not exited after grace.
func (d *daemon) stop(grace time.Duration) {
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		d.cmd.Process.Kill() // no SIGINT on Windows
	}
	go func() {
		select {
		case <-d.exited:
		case <-time.After(grace):
			d.cmd.Process.Kill()
		}
	}()
}

// stopAndDrain stops the daemon and returns the lines it still writes.
func (d *daemon) stopAndDrain(grace time.Duration) []line {
	d.stop(grace)
	var rest []line
	for l := range d.lines {
		rest = append(rest, l)
	}
	<-d.exited
	return rest
}

func splitArgs(args []string) (flags, command []string) {
	if i := slices.Index(args, "--"); i >= 0 {
		return args[:i], args[i+1:]
	}
	return args, nil
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func latencyMain(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	n := fs.Int("n", 1000, "number of single-file changes")
	rate := fs.Float64("rate", 50, "changes per second (0: wait for each alert before the next write)")
	dir := fs.String("dir", "", "watched `directory` to write the files into")
	target := fs.Duration("target", time.Second, "p99 target")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for alerts after the last write")
	logPath := fs.String("log", "watch-latency.log", "`file` for the daemon's stderr")
	savePath := fs.String("save", "", "`file` to save the daemon's stdout to")
	ext := fs.String("ext", "html", "`extension` of the new files (php: each is a script alert)")
	touch := fs.String("touch", "", "`file` (a huge sparse one) whose times are set just before each write, so that the daemon hashes it again beside each new file")
	config := fs.String("config", "", "included server configuration `file`: instead of new files, each change appends a LoadModule line to it, matched by its module name")
	flags, command := splitArgs(args)
	fs.Parse(flags)
	if (*dir == "" && *config == "") || *n < 1 {
		return errors.New("latency: -dir (or -config) and -n >= 1 are required")
	}
	save, closeSave, err := openSave(*savePath)
	if err != nil {
		return err
	}
	defer closeSave()
	d, err := startDaemon(command, *logPath, save)
	if err != nil {
		return err
	}
	if err := d.waitStarted(10 * time.Minute); err != nil {
		d.stop(5 * time.Second)
		return err
	}

	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	written := make(map[string]time.Time, *n)
	alerted := make(map[string]time.Time, *n)
	dups := 0
	var mu sync.Mutex
	newAlert := make(chan struct{}, 1)
	collectorDone := make(chan struct{})
	go func() {
		defer close(collectorDone)
		for l := range d.lines {
			key := l.alert.File.Path
			if *config != "" {
				key = moduleToken.FindString(string(l.text))
			}
			if l.err != nil || key == "" {
				continue
			}
			mu.Lock()
			if _, ok := written[key]; ok {
				if _, seen := alerted[key]; seen {
					dups++
				} else {
					alerted[key] = l.at
				}
			}
			mu.Unlock()
			select {
			case newAlert <- struct{}{}:
			default:
			}
		}
	}()

	width := len(fmt.Sprint(*n))
	width = max(width, 4)
	start := time.Now()
	paths := make([]string, *n)
	for i := range *n {
		paths[i] = filepath.Join(absDir, fmt.Sprintf("f%0*d.%s", width, i+1, *ext))
		content := fmt.Sprintf("<p>change %d</p>\n", i+1)
		if *config != "" {
			paths[i] = fmt.Sprintf("bench%d_module", i+1)
			content = fmt.Sprintf("LoadModule %s /usr/lib/apache2/modules/mod_bench%d.so\n", paths[i], i+1)
		}
		if *rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		if *touch != "" {
			now := time.Now()
			if err := os.Chtimes(*touch, now, now); err != nil {
				d.stop(5 * time.Second)
				return err
			}
		}
		mu.Lock()
		written[paths[i]] = time.Now()
		mu.Unlock()
		var err error
		if *config != "" {
			err = appendLine(*config, content)
		} else {
			err = os.WriteFile(paths[i], []byte(content), 0o644)
		}
		if err != nil {
			d.stop(5 * time.Second)
			return err
		}
		if *rate <= 0 { // sequential: the next write after this alert
			deadline := time.Now().Add(*timeout)
			for {
				mu.Lock()
				_, ok := alerted[paths[i]]
				mu.Unlock()
				if ok || time.Now().After(deadline) {
					break
				}
				select {
				case <-newAlert:
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
	lastWrite := time.Now()
	for deadline := lastWrite.Add(*timeout); time.Now().Before(deadline); {
		mu.Lock()
		all := len(alerted) == *n
		mu.Unlock()
		if all {
			break
		}
		select {
		case <-newAlert:
		case <-time.After(50 * time.Millisecond):
		}
	}
	mu.Lock()
	var lat []time.Duration
	for _, p := range paths {
		if at, ok := alerted[p]; ok {
			lat = append(lat, at.Sub(written[p]))
		}
	}
	mu.Unlock()
	// Alerts drained at the stop arrive after the timeout: they count as
	// lost for the latency, and are only reported.
	d.stop(60 * time.Second)
	<-collectorDone
	<-d.exited
	slices.Sort(lat)
	lost := *n - len(lat)
	p50, p99, worst := percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	mode := fmt.Sprintf("paced at %g/s", *rate)
	if *rate <= 0 {
		mode = "each after the previous alert"
	}
	what := "new files written"
	if *config != "" {
		what = "LoadModule lines appended to " + filepath.Base(*config)
	}
	fmt.Printf("latency: %d %s %s in %.1fs; %d alerted, %d lost, %d duplicate alerts\n",
		*n, what, mode, lastWrite.Sub(start).Seconds(), len(lat), lost, dups)
	fmt.Printf("latency: write -> alert line on stdout: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n",
		ms(p50), ms(percentile(lat, 90)), ms(p99), ms(worst))
	pass := lost == 0 && dups == 0 && p99 < *target
	fmt.Printf("RESULT n=%d alerted=%d lost=%d dups=%d p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s pass=%t\n",
		*n, len(lat), lost, dups, ms(p50), ms(percentile(lat, 90)), ms(p99), ms(worst), pass)
	return nil
}

// moduleToken finds the module name of a -config change in an alert.
var moduleToken = regexp.MustCompile(`bench[0-9]+_module`)

func appendLine(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func openSave(path string) (io.Writer, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	return w, func() { w.Flush(); f.Close() }, nil
}

func burstMain(args []string) error {
	fs := flag.NewFlagSet("burst", flag.ExitOnError)
	src := fs.String("copy", "", "`tree` to copy into the watched root with cp -r")
	dst := fs.String("dir", "", "`destination` of the copy, inside a watched root (must not exist)")
	quiet := fs.Duration("quiet", 10*time.Second, "the alerts have stopped when none came for this long after the copy")
	maxWait := fs.Duration("max-wait", 10*time.Minute, "give up waiting for the alerts to stop after this long")
	logPath := fs.String("log", "watch-burst.log", "`file` for the daemon's stderr")
	savePath := fs.String("save", "", "`file` to save the daemon's stdout (the alerts) to, for compare")
	flags, command := splitArgs(args)
	fs.Parse(flags)
	if *src == "" || *dst == "" {
		return errors.New("burst: -copy and -dir are required")
	}
	if _, err := os.Lstat(*dst); err == nil {
		return fmt.Errorf("burst: %s exists already", *dst)
	}
	save, closeSave, err := openSave(*savePath)
	if err != nil {
		return err
	}
	defer closeSave()
	d, err := startDaemon(command, *logPath, save)
	if err != nil {
		return err
	}
	if err := d.waitStarted(10 * time.Minute); err != nil {
		d.stop(5 * time.Second)
		return err
	}
	absDst, err := filepath.Abs(*dst)
	if err != nil {
		return err
	}
	// Alerts before the copy (there should be none) are not counted.
	drain(d.lines)

	cp := exec.Command("cp", "-r", *src, *dst)
	cp.Stderr = os.Stderr
	copyStart := time.Now()
	if err := cp.Start(); err != nil {
		d.stop(5 * time.Second)
		return err
	}
	copyDone := make(chan error, 1)
	go func() { copyDone <- cp.Wait() }()

	counts := map[string]int{}
	var last time.Time
	count := func(l line) {
		if l.err != nil || !under(l.alert.File.Path, absDst) {
			return
		}
		counts[l.alert.File.Path]++
		last = l.at
	}
	var copyEnd time.Time
	ctx, cancel := context.WithTimeout(context.Background(), *maxWait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	timedOut := false
loop:
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				break loop
			}
			count(l)
		case err := <-copyDone:
			if err != nil {
				d.stop(5 * time.Second)
				return fmt.Errorf("cp -r %s %s: %w", *src, *dst, err)
			}
			copyEnd = time.Now()
		case now := <-tick.C:
			if !copyEnd.IsZero() && now.Sub(maxTime(copyEnd, last)) >= *quiet {
				break loop
			}
		case <-ctx.Done():
			timedOut = true
			break loop
		}
	}
	beforeStop := last
	for _, l := range d.stopAndDrain(60 * time.Second) {
		count(l)
	}
	entries := 0
	dups := 0
	for _, c := range counts {
		entries++
		if c > 1 {
			dups++
		}
	}
	if copyEnd.IsZero() {
		return errors.New("burst: the copy did not finish")
	}
	if last.IsZero() {
		return errors.New("burst: no alert for the copied tree")
	}
	fmt.Printf("burst: cp -r took %.1fs; %d paths alerted (%d more than once); last alert %.1fs after the copy started, %.1fs after it ended\n",
		copyEnd.Sub(copyStart).Seconds(), entries, dups, last.Sub(copyStart).Seconds(), last.Sub(copyEnd).Seconds())
	if last.After(beforeStop) {
		fmt.Printf("burst: note: some alerts came only with the drain at the stop (last before it: %.1fs)\n",
			beforeStop.Sub(copyStart).Seconds())
	}
	if timedOut {
		fmt.Printf("burst: note: the alerts did not stop within %v\n", *maxWait)
	}
	fmt.Printf("RESULT copy_s=%.2f last_alert_s=%.2f after_copy_s=%.2f paths=%d dups=%d timed_out=%t\n",
		copyEnd.Sub(copyStart).Seconds(), last.Sub(copyStart).Seconds(), last.Sub(copyEnd).Seconds(), entries, dups, timedOut)
	return nil
}

func drain(ch chan line) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// under tells whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator)) || strings.HasPrefix(path, dir+"/")
}

func compareMain(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	alertsPath := fs.String("alerts", "", "the daemon's alerts (NDJSON ECS documents)")
	diffPath := fs.String("diff", "", "`webfim diff --format ndjson` output")
	prefix := fs.String("under", "", "only entries at or below this `path` count")
	fs.Parse(args)
	if *alertsPath == "" || *diffPath == "" {
		return errors.New("compare: -alerts and -diff are required")
	}
	alerts, err := os.ReadFile(*alertsPath)
	if err != nil {
		return err
	}
	diff, err := os.ReadFile(*diffPath)
	if err != nil {
		return err
	}
	r, err := compare(alerts, diff, *prefix)
	if err != nil {
		return err
	}
	fmt.Printf("compare: diff afterwards: %d added entries (%d other changes); alerts: %d added paths, %d alerts in all\n",
		len(r.expected), r.otherDiff, len(r.added), r.total)
	show := func(what string, paths []string) {
		if len(paths) == 0 {
			return
		}
		fmt.Printf("compare: %d %s, e.g.:\n", len(paths), what)
		for _, p := range paths[:min(5, len(paths))] {
			fmt.Printf("   %s\n", p)
		}
	}
	show("added entries never alerted (lost)", r.lost)
	show("alerted paths not added in the diff (extra)", r.extra)
	show("paths alerted more than once", r.dups)
	pass := len(r.lost) == 0 && len(r.extra) == 0 && len(r.dups) == 0 && len(r.expected) > 0
	fmt.Printf("RESULT expected=%d alerted=%d lost=%d extra=%d dups=%d pass=%t\n",
		len(r.expected), len(r.added), len(r.lost), len(r.extra), len(r.dups), pass)
	return nil
}

type comparison struct {
	expected  map[string]bool // added entries in the diff
	added     map[string]bool // paths with an "added" alert
	otherDiff int             // diff changes that are not additions
	total     int             // alerts (of any kind) for a path
	lost      []string        // expected, never alerted as added
	extra     []string        // alerted as added, not expected
	dups      []string        // alerted more than once (any kind)
}

// compare matches the alerts (ECS NDJSON) with the added entries of a
// `webfim diff --format ndjson`, restricted to paths under prefix if set.
func compare(alerts, diff []byte, prefix string) (*comparison, error) {
	r := &comparison{expected: map[string]bool{}, added: map[string]bool{}}
	keep := func(p string) bool { return prefix == "" || under(p, prefix) }
	for i, b := range bytes.Split(diff, []byte("\n")) {
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var c struct {
			Type, Kind, Root, Path string
			PathBase64             string `json:"path_base64"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("diff line %d: %w", i+1, err)
		}
		if c.Type != "file" {
			continue
		}
		p := c.Path
		if c.PathBase64 != "" {
			raw, err := base64.StdEncoding.DecodeString(c.PathBase64)
			if err != nil {
				return nil, fmt.Errorf("diff line %d: path_base64: %w", i+1, err)
			}
			p = string(raw)
		}
		if p != "" {
			p = strings.TrimSuffix(c.Root, "/") + "/" + p
		} else {
			p = c.Root
		}
		if !keep(p) {
			continue
		}
		if c.Kind == "added" {
			r.expected[p] = true
		} else {
			r.otherDiff++
		}
	}
	counts := map[string]int{}
	for i, b := range bytes.Split(alerts, []byte("\n")) {
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var a alert
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("alerts line %d: %w", i+1, err)
		}
		p := a.File.Path
		if p == "" || !keep(p) {
			continue
		}
		r.total++
		counts[p]++
		if a.Webfim.Change.Kind == "added" {
			r.added[p] = true
		}
	}
	for p := range r.expected {
		if !r.added[p] {
			r.lost = append(r.lost, p)
		}
	}
	for p := range r.added {
		if !r.expected[p] {
			r.extra = append(r.extra, p)
		}
	}
	for p, c := range counts {
		if c > 1 {
			r.dups = append(r.dups, p)
		}
	}
	slices.Sort(r.lost)
	slices.Sort(r.extra)
	slices.Sort(r.dups)
	return r, nil
}
