package output

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rsyslogd is a private rsyslog instance listening on loopback only.
type rsyslogd struct {
	udpAddr, tcpAddr string
	unixStream       string // imptcp on a unix socket: octet-counted stream
	unixDgram        string // imuxsock: datagrams, like /dev/log
	out              string // file of received messages, one per line
	cmd              *exec.Cmd
	stderr           *bytes.Buffer
	stop             func()
}

func findRsyslogd(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("rsyslogd does not run on Windows")
	}
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
		t.Fatal("rsyslogd not installed, and WEBFIM_REQUIRE_INTEGRATION is set (.ci/run installs it: apt-get install -y rsyslog)")
	}
	t.Skip("rsyslogd not installed (CI installs it: apt-get install -y rsyslog)")
	return ""
}

func freePorts(t *testing.T) (udp, tcp int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, ln.Addr().(*net.TCPAddr).Port
}

// Fields separated by a byte that RFC 5424 headers cannot contain.
const rsyslogTemplate = `%syslogfacility%|%syslogseverity%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\n`

func startRsyslogd(t *testing.T) *rsyslogd {
	t.Helper()
	findRsyslogd(t)
	udpPort, tcpPort := freePorts(t)
	return startRsyslogdAt(t, udpPort, tcpPort)
}

// startRsyslogdAt starts rsyslogd on the given loopback ports; it is
// killed when the test ends or when stop is called.
func startRsyslogdAt(t *testing.T, udpPort, tcpPort int) *rsyslogd {
	t.Helper()
	bin := findRsyslogd(t)
	dir, err := os.MkdirTemp("", "wfrs") // short: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &rsyslogd{
		udpAddr: "127.0.0.1:" + strconv.Itoa(udpPort),
		tcpAddr: "127.0.0.1:" + strconv.Itoa(tcpPort),
		out:     filepath.Join(dir, "received.log"),

		unixStream: filepath.Join(dir, "stream.sock"),
		unixDgram:  filepath.Join(dir, "dgram.sock"),
		stderr:     new(bytes.Buffer),
	}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imptcp")
module(load="imuxsock" SysSock.Use="off")
template(name="fields" type="string" string="%s")
ruleset(name="test") {
  action(type="omfile" file=%q template="fields")
}
input(type="imudp" address="127.0.0.1" port="%d" ruleset="test")
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="test")
input(type="imptcp" path=%q unlink="on" ruleset="test")
input(type="imuxsock" socket=%q useSpecialParser="off" parseHostname="on" ruleset="test")
`, dir, rsyslogTemplate, r.out, udpPort, tcpPort, r.unixStream, r.unixDgram)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-N1", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd rejects the test configuration: %v\n%s", err, out)
	}
	r.cmd = exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.stderr, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting rsyslogd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	var stopped bool
	r.stop = func() {
		if !stopped {
			stopped = true
			r.cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(r.stop)
	// Ready when TCP accepts and a UDP probe has gone all the way through
	// to the output file.
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("rsyslogd exited: %v\n%s", err, r.stderr)
		default:
		}
		if c, err := net.DialTimeout("tcp", r.tcpAddr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd not listening on %s after 15s\n%s", r.tcpAddr, r.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	probe, err := Syslog(SyslogConfig{Network: "udp", Address: r.udpAddr, AppName: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	for {
		probe.Write(context.Background(), []Doc{{Body: []byte(`{"probe":true}`)}})
		time.Sleep(100 * time.Millisecond)
		if data, _ := os.ReadFile(r.out); bytes.Contains(data, []byte("|probe|")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not log a UDP probe within 15s\n%s", r.stderr)
		}
	}
	return r
}

// received returns the fields of the logged lines of app "webfim" from
// host, waiting until there are n of them.
func (r *rsyslogd) received(t *testing.T, host string, n int) [][]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(r.out)
		var got [][]string
		lines := strings.Split(string(data), "\n")
		lines = lines[:len(lines)-1] // the last one is empty or still being written
		for _, line := range lines {
			f := strings.SplitN(line, "|", 8)
			if len(f) == 8 && f[3] == "webfim" && f[2] == host {
				got = append(got, f)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			if len(data) > 2000 {
				data = append(data[:2000], "..."...)
			}
			t.Fatalf("rsyslogd logged %d of %d messages from %s within 10s:\n%s\nrsyslogd: %s", len(got), n, host, data, r.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRsyslogReceivesJSONIntact(t *testing.T) {
	r := startRsyslogd(t)
	for _, c := range []struct{ network, addr string }{
		{"udp", r.udpAddr}, {"tcp", r.tcpAddr}, {"unix", r.unixStream}, {"unixgram", r.unixDgram},
	} {
		network, addr := c.network, c.addr
		t.Run(network, func(t *testing.T) {
			o, err := Syslog(SyslogConfig{Network: network, Address: addr, Hostname: "web-" + network, Facility: "authpriv"})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			docs := []Doc{
				{ID: "a", Body: []byte(`{"event":{"id":"a","kind":"alert","severity":3},"file":{"path":"/var/www/html/wp-content/uploads/shell.php"},"message":"added script"}`)},
				{ID: "b", Body: []byte(`{"event":{"id":"b","kind":"alert","severity":4},"message":"ünïcode ✓ \"quoted\" back\\slash"}`)},
				{ID: "c", Body: []byte(`{"event":{"id":"c","kind":"alert"},"message":"` + strings.Repeat("long ", 3000) + `"}`)},
			}
			if err := o.Write(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			got := r.received(t, "web-"+network, len(docs))
			if len(got) != len(docs) {
				t.Fatalf("%d messages logged, want %d", len(got), len(docs))
			}
			wantSev := []string{"3", "2", "4"}
			for i, f := range got {
				if f[7] != string(docs[i].Body) {
					t.Errorf("message %d arrived as %q,\nwant %q", i, f[7], docs[i].Body)
				}
				if !json.Valid([]byte(f[7])) {
					t.Errorf("message %d is no longer JSON", i)
				}
				if f[0] != "10" || f[1] != wantSev[i] || f[4] != strconv.Itoa(os.Getpid()) || f[5] != "alert" || f[6] != "-" {
					t.Errorf("message %d header fields facility|severity|host|app|procid|msgid|sd = %q", i, f[:7])
				}
			}
		})
	}
}

func TestRsyslogRestartLosesNothingOverTCP(t *testing.T) {
	r := startRsyslogd(t)
	o, err := Syslog(SyslogConfig{Network: "tcp", Address: r.tcpAddr, Hostname: "restart"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	docs := testDocs(0, 2)
	if err := o.Write(context.Background(), docs[:1]); err != nil {
		t.Fatal(err)
	}
	r.received(t, "restart", 1)
	r.stop()

	// While it is down, the write fails (and the deliverer would retry).
	if err := o.Write(context.Background(), docs[1:]); err == nil {
		t.Fatal("write with rsyslogd down succeeded")
	}
	_, udpPort, _ := net.SplitHostPort(r.udpAddr)
	_, tcpPort, _ := net.SplitHostPort(r.tcpAddr)
	up, _ := strconv.Atoi(udpPort)
	tp, _ := strconv.Atoi(tcpPort)
	r2 := startRsyslogdAt(t, up, tp)
	if err := o.Write(context.Background(), docs[1:]); err != nil {
		t.Fatalf("after rsyslogd restarted: %v", err)
	}
	got := r2.received(t, "restart", 1)
	if got[0][7] != string(docs[1].Body) {
		t.Errorf("after restart got %q, want %q", got[0][7], docs[1].Body)
	}
}
