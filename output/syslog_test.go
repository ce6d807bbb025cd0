package output

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rfc5424 is a parsed message with SD "-" (all this package sends).
type rfc5424 struct {
	Pri                                    int
	Version                                string
	Timestamp                              time.Time
	Host, App, ProcID, MsgID, SD, Msg, Raw string
}

// parse5424 parses a message strictly enough to catch framing mistakes.
func parse5424(raw string) (rfc5424, error) {
	m := rfc5424{Raw: raw}
	if !strings.HasPrefix(raw, "<") {
		return m, errors.New("no <PRI>")
	}
	end := strings.IndexByte(raw, '>')
	if end < 2 || end > 4 {
		return m, errors.New("bad PRI")
	}
	pri, err := strconv.Atoi(raw[1:end])
	if err != nil || pri < 0 || pri > 191 {
		return m, fmt.Errorf("bad PRI %q", raw[1:end])
	}
	m.Pri = pri
	fields := strings.SplitN(raw[end+1:], " ", 8)
	if len(fields) != 8 {
		return m, fmt.Errorf("%d header fields, want 7 and MSG", len(fields)-1)
	}
	m.Version = fields[0]
	if m.Version != "1" {
		return m, fmt.Errorf("version %q", m.Version)
	}
	if m.Timestamp, err = time.Parse(time.RFC3339Nano, fields[1]); err != nil {
		return m, fmt.Errorf("timestamp: %v", err)
	}
	m.Host, m.App, m.ProcID, m.MsgID, m.SD, m.Msg = fields[2], fields[3], fields[4], fields[5], fields[6], fields[7]
	for i, f := range []string{m.Host, m.App, m.ProcID, m.MsgID} {
		lim := []int{255, 48, 128, 32}[i]
		if f == "" || len(f) > lim {
			return m, fmt.Errorf("header field %d %q: empty or longer than %d", i, f, lim)
		}
		for _, c := range []byte(f) {
			if c <= 32 || c >= 127 {
				return m, fmt.Errorf("header field %q has byte %#x", f, c)
			}
		}
	}
	if m.SD != "-" {
		return m, fmt.Errorf("structured data %q, want -", m.SD)
	}
	return m, nil
}

// readOctetCounted reads RFC 6587 octet-counted frames.
func readOctetCounted(r *bufio.Reader) (string, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return "", err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil || size <= 0 {
		return "", fmt.Errorf("bad frame length %q", n)
	}
	buf := make([]byte, size)
	_, err = io.ReadFull(r, buf)
	return string(buf), err
}

func checkMessages(t *testing.T, raws []string, docs []Doc, host string) {
	t.Helper()
	if len(raws) != len(docs) {
		t.Fatalf("got %d messages, want %d", len(raws), len(docs))
	}
	for i, raw := range raws {
		m, err := parse5424(raw)
		if err != nil {
			t.Fatalf("message %d %q: %v", i, raw, err)
		}
		if m.Msg != string(docs[i].Body) {
			t.Errorf("message %d MSG = %q, want %q", i, m.Msg, docs[i].Body)
		}
		if m.Host != host || m.App != "webfim" || m.MsgID != "alert" || m.ProcID != strconv.Itoa(os.Getpid()) {
			t.Errorf("message %d header host=%q app=%q msgid=%q procid=%q", i, m.Host, m.App, m.MsgID, m.ProcID)
		}
		if time.Since(m.Timestamp).Abs() > time.Minute {
			t.Errorf("message %d timestamp %v is not now", i, m.Timestamp)
		}
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	o, err := Syslog(SyslogConfig{Network: "udp", Address: pc.LocalAddr().String(), Hostname: "web 1", Facility: "local3"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	docs := testDocs(0, 3)
	docs[1].Body = []byte(`{"event":{"severity":4,"kind":"alert"},"message":"ünïcode ✓"}`)
	if err := o.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	var raws []string
	buf := make([]byte, 70000)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range docs {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, string(buf[:n]))
	}
	checkMessages(t, raws, docs, "web_1")
	// local3 = 19; kind alert without severity = warning (4); severity 4 (critical) = crit (2).
	m0, _ := parse5424(raws[0])
	m1, _ := parse5424(raws[1])
	if m0.Pri != 19*8+4 || m1.Pri != 19*8+2 {
		t.Errorf("PRI = %d, %d; want %d, %d", m0.Pri, m1.Pri, 19*8+4, 19*8+2)
	}
}

func TestSyslogUDPTooLarge(t *testing.T) {
	o, err := Syslog(SyslogConfig{Network: "udp", Address: "127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	big := Doc{Body: []byte(`{"m":"` + strings.Repeat("x", maxDatagram) + `"}`)}
	err = o.Write(context.Background(), []Doc{big})
	var pe *PartialError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "datagram limit") {
		t.Fatalf("err = %v, want a PartialError about the datagram limit", err)
	}
}

// tcpServer accepts connections and collects octet-counted messages. When
// closeAfter > 0, each connection is closed after that many messages.
type tcpServer struct {
	ln   net.Listener
	msgs chan string
}

func newTCPServer(t *testing.T, addr string, closeAfter int) *tcpServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpServer{ln: ln, msgs: make(chan string, 100)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for n := 0; closeAfter == 0 || n < closeAfter; n++ {
					m, err := readOctetCounted(r)
					if err != nil {
						if err != io.EOF {
							s.msgs <- "ERROR " + err.Error()
						}
						return
					}
					s.msgs <- m
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *tcpServer) collect(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case m := <-s.msgs:
			out = append(out, m)
		case <-timeout:
			t.Fatalf("got %d of %d messages after 5s", len(out), n)
		}
	}
	return out
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	srv := newTCPServer(t, "127.0.0.1:0", 0)
	o, err := Syslog(SyslogConfig{Network: "tcp", Address: srv.ln.Addr().String(), Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	docs := testDocs(0, 5)
	docs[2].Body = []byte("{\"multi\":\n\"line\"}") // must not break framing
	if err := o.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	docs[2].Body = []byte(`{"multi":"line"}`)
	checkMessages(t, srv.collect(t, 5), docs, "h")
}

func TestSyslogTCPReconnects(t *testing.T) {
	// The server drops each connection after one message; every document
	// must still arrive.
	srv := newTCPServer(t, "127.0.0.1:0", 1)
	o, err := Syslog(SyslogConfig{Network: "tcp", Address: srv.ln.Addr().String(), Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	docs := testDocs(0, 4)
	var got []string
	for i := range docs {
		if err := o.Write(context.Background(), docs[i:i+1]); err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		got = append(got, srv.collect(t, 1)...)
		time.Sleep(20 * time.Millisecond) // let the server's close arrive
	}
	checkMessages(t, got, docs, "h")
}

func TestSyslogTCPServerDownThenUp(t *testing.T) {
	srv := newTCPServer(t, "127.0.0.1:0", 0)
	addr := srv.ln.Addr().String()
	srv.ln.Close()
	o, err := Syslog(SyslogConfig{Network: "tcp", Address: addr, Hostname: "h", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	docs := testDocs(0, 2)
	err = o.Write(context.Background(), docs)
	var pe *PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 2 {
		t.Fatalf("server down: err = %v, want both documents failed", err)
	}
	srv = newTCPServer(t, addr, 0)
	if err := o.Write(context.Background(), docs); err != nil {
		t.Fatalf("server up again: %v", err)
	}
	checkMessages(t, srv.collect(t, 2), docs, "h")
}

func TestSyslogUnixSockets(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix datagram sockets are not available on Windows")
	}
	dir, err := os.MkdirTemp("", "wfsl") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	docs := testDocs(0, 3)

	for _, network := range []string{"unixgram", "unix"} {
		t.Run("datagram socket, network "+network, func(t *testing.T) {
			path := filepath.Join(dir, network+".sock")
			pc, err := net.ListenPacket("unixgram", path)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			o, err := Syslog(SyslogConfig{Network: network, Address: path, Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if err := o.Write(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			var raws []string
			buf := make([]byte, 70000)
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			for range docs {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				raws = append(raws, string(buf[:n]))
			}
			checkMessages(t, raws, docs, "h")
		})
	}
	t.Run("unix stream", func(t *testing.T) {
		path := filepath.Join(dir, "stream.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan []string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			var ms []string
			for range docs {
				m, err := readOctetCounted(r)
				if err != nil {
					break
				}
				ms = append(ms, m)
			}
			got <- ms
		}()
		o, err := Syslog(SyslogConfig{Network: "unix", Address: path, Hostname: "h"})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if err := o.Write(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
		select {
		case ms := <-got:
			checkMessages(t, ms, docs, "h")
		case <-time.After(5 * time.Second):
			t.Fatal("no messages after 5s")
		}
	})
}

func TestSyslogSeverity(t *testing.T) {
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"event":{"severity":4,"kind":"alert"}}`, sevCritical},
		{`{"event":{"severity":3,"kind":"alert"}}`, sevError},
		{`{"event":{"severity":2,"kind":"alert"}}`, sevWarning},
		{`{"event":{"severity":1,"kind":"alert"}}`, sevNotice},
		{`{"event":{"severity":0,"kind":"alert"}}`, sevInfo},
		{`{"event":{"severity":99}}`, sevCritical},
		{`{"event":{"severity":74}}`, sevCritical},
		{`{"event":{"severity":73}}`, sevError},
		{`{"event":{"severity":47}}`, sevWarning},
		{`{"event":{"severity":21}}`, sevNotice},
		{`{"event":{"kind":"alert"}}`, sevWarning},
		{`{"event":{"kind":"event"}}`, sevInfo},
		{`{}`, sevInfo},
		{`not json`, sevWarning},
	} {
		if got := severityOf([]byte(c.body)); got != c.want {
			t.Errorf("severityOf(%s) = %d, want %d", c.body, got, c.want)
		}
	}
}

func TestSyslogConfigErrors(t *testing.T) {
	for _, c := range []SyslogConfig{
		{Network: "udp", Address: "nohostport"},
		{Network: "tcp+tls", Address: "a:1"},
		{Network: "unix", Address: "dev/log"}, // socket paths are absolute
		{Network: "udp", Address: "a:514", Facility: "local9"},
		{Network: "udp", Address: "a:514", Facility: "24"},
		{Network: "udp", Address: "a:514", Timeout: -1},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err = %v, want ErrInvalidConfig", c, err)
		}
	}
}

func FuzzSyslogFormat(f *testing.F) {
	f.Add("web1", []byte(`{"event":{"severity":50}}`))
	f.Add("", []byte("{\n}"))
	f.Add("h o\x00st\xff", []byte("\r\n\x00"))
	f.Fuzz(func(t *testing.T, host string, body []byte) {
		o, err := Syslog(SyslogConfig{Network: "udp", Address: "127.0.0.1:514", Hostname: host})
		if err != nil {
			if host == "" {
				t.Skip()
			}
			t.Fatal(err)
		}
		msg := o.format(body)
		if strings.ContainsAny(string(msg), "\n\r") {
			t.Fatalf("message %q contains a line break", msg)
		}
		m, err := parse5424(string(msg))
		if err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		if m.Pri%8 < sevCritical || m.Pri%8 > sevInfo || m.Pri/8 != 16 {
			t.Fatalf("PRI %d out of range", m.Pri)
		}
	})
}
