package output

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Syslog networks of [SyslogConfig].
const (
	SyslogUDP      = "udp"      // one message per datagram
	SyslogTCP      = "tcp"      // octet-counting framing (RFC 6587 3.4.1)
	SyslogUnix     = "unix"     // unix stream socket, octet-counting framing; falls back to a datagram socket (such as /dev/log)
	SyslogUnixgram = "unixgram" // unix datagram socket (such as /dev/log), one message per datagram
)

// Syslog defaults.
const (
	DefaultSyslogAppName  = "webfim"
	DefaultSyslogFacility = "local0"
	DefaultSyslogTimeout  = 5 * time.Second
	DefaultSyslogAddress  = "localhost:514" // for udp and tcp
	DefaultSyslogSocket   = "/dev/log"      // for unix and unixgram
	syslogMsgID           = "alert"
	// maxDatagram is the largest UDP payload over IPv4.
	maxDatagram = 65507
)

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "audit": 13, "console": 14,
	"solaris-cron": 15, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
	"local5": 21, "local6": 22, "local7": 23,
}

// Syslog severities (RFC 5424 6.2.1).
const (
	sevCritical = 2
	sevError    = 3
	sevWarning  = 4
	sevNotice   = 5
	sevInfo     = 6
)

// SyslogConfig configures a [Syslog] output; the yaml keys are those of a
// "type: syslog" output in the config file.
type SyslogConfig struct {
	// Network is SyslogUDP (also when empty), SyslogTCP, SyslogUnix or SyslogUnixgram.
	Network string `yaml:"network,omitempty"`
	// Address is host:port for udp and tcp, an absolute socket path for
	// unix and unixgram; empty means DefaultSyslogAddress or
	// DefaultSyslogSocket.
	Address string `yaml:"address,omitempty"`
	// Facility is a name (local0 ... local7, auth, authpriv, security, daemon, user, ...)
	// or a number 0-23; empty means DefaultSyslogFacility.
	Facility string `yaml:"facility,omitempty"`
	// AppName is the APP-NAME header field; empty means DefaultSyslogAppName.
	AppName string `yaml:"app_name,omitempty"`
	// Hostname is the HOSTNAME header field; empty means os.Hostname().
	Hostname string `yaml:"-"`
	// Timeout bounds connecting and each write; 0 means DefaultSyslogTimeout.
	Timeout time.Duration `yaml:"-"`
}

// Validate checks the configuration and fills in defaults. Errors are
// *[FieldError] values.
func (c *SyslogConfig) Validate() error {
	switch c.Network {
	case "":
		c.Network = SyslogUDP
	case SyslogUDP, SyslogTCP, SyslogUnix, SyslogUnixgram:
	default:
		return fieldErrorf("network", "unknown network %q (want udp, tcp, unix or unixgram)", c.Network)
	}
	switch c.Network {
	case SyslogUDP, SyslogTCP:
		if c.Address == "" {
			c.Address = DefaultSyslogAddress
		}
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			return fieldErrorf("address", "want host:port for %s, got %q", c.Network, c.Address)
		}
	default:
		if c.Address == "" {
			c.Address = DefaultSyslogSocket
		}
		if !strings.HasPrefix(c.Address, "/") && !filepath.IsAbs(c.Address) {
			return fieldErrorf("address", "want an absolute socket path for %s, got %q", c.Network, c.Address)
		}
	}
	if c.Facility == "" {
		c.Facility = DefaultSyslogFacility
	}
	if _, err := facilityCode(c.Facility); err != nil {
		return &FieldError{Key: "facility", Err: err}
	}
	if c.AppName == "" {
		c.AppName = DefaultSyslogAppName
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "-"
		}
		c.Hostname = h
	}
	if c.Timeout < 0 {
		return fieldErrorf("timeout", "negative duration %v", c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultSyslogTimeout
	}
	return nil
}

// facilityNames lists the named facilities other than local0-7, in code order.
func facilityNames() []string {
	var names []string
	for name, code := range facilities {
		if code < 16 {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(facilities[a], facilities[b]), cmp.Compare(a, b)) })
	return names
}

func facilityCode(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 || n > 23 {
			return 0, fmt.Errorf("facility %d is not in 0-23", n)
		}
		return n, nil
	}
	if n, ok := facilities[strings.ToLower(name)]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown facility %q (want local0 ... local7, %s, or a number 0-23)", name, strings.Join(facilityNames(), ", "))
}

// SyslogOutput sends each document as the MSG of one RFC 5424 message.
type SyslogOutput struct {
	cfg      SyslogConfig
	facility int
	pid      int
	stream   bool

	mu   sync.Mutex
	conn net.Conn
	now  func() time.Time // for tests
}

// Syslog returns a syslog output. It connects lazily, on the first Write,
// and reconnects after a failure, so a syslog server that is down at start
// does not prevent the daemon from starting.
func Syslog(cfg SyslogConfig) (*SyslogOutput, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fac, _ := facilityCode(cfg.Facility)
	return &SyslogOutput{
		cfg:      cfg,
		facility: fac,
		pid:      os.Getpid(),
		stream:   cfg.Network == SyslogTCP || cfg.Network == SyslogUnix,
		now:      time.Now,
	}, nil
}

// Name returns "syslog:" network "://" address.
func (s *SyslogOutput) Name() string { return "syslog:" + s.cfg.Network + "://" + s.cfg.Address }

// Write sends docs in order. A failed send is retried once on a new
// connection; if that fails too, that document and the rest are reported
// in a *PartialError.
func (s *SyslogOutput) Write(ctx context.Context, docs []Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Once per batch: it costs up to a millisecond on a live connection.
	if s.conn != nil && s.stream && peerClosed(s.conn) {
		s.closeConn()
	}
	for i, d := range docs {
		if err := ctx.Err(); err != nil {
			return &PartialError{Failed: rangeFrom(i, len(docs)), Err: err}
		}
		msg := s.format(d.Body)
		if !s.stream && len(msg) > maxDatagram {
			// Cannot ever succeed: fail loudly instead of truncating the JSON.
			return &PartialError{Failed: rangeFrom(i, len(docs)),
				Err: fmt.Errorf("syslog: message of %d bytes exceeds the datagram limit of %d; use tcp", len(msg), maxDatagram)}
		}
		err := s.send(msg)
		if err != nil {
			s.closeConn()
			err = s.send(msg)
		}
		if err != nil {
			s.closeConn()
			return &PartialError{Failed: rangeFrom(i, len(docs)), Err: fmt.Errorf("%s: %w", s.Name(), err)}
		}
	}
	return nil
}

func (s *SyslogOutput) send(msg []byte) error {
	if s.conn == nil {
		network := s.cfg.Network
		c, err := net.DialTimeout(network, s.cfg.Address, s.cfg.Timeout)
		if err != nil && network == SyslogUnix {
			// /dev/log and most local syslog sockets are datagram sockets.
			if gc, gerr := net.DialTimeout(SyslogUnixgram, s.cfg.Address, s.cfg.Timeout); gerr == nil {
				c, err, network = gc, nil, SyslogUnixgram
			}
		}
		if err != nil {
			return err
		}
		s.conn = c
		s.stream = network == SyslogTCP || network == SyslogUnix
	}
	if s.stream {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
	n, err := s.conn.Write(msg)
	if err == nil && n < len(msg) {
		err = errors.New("short write")
	}
	return err
}

// peerClosed reports whether the server closed a stream connection. Syslog
// servers never send anything, so a read that does not time out at once
// means EOF or an error. Without this check the first write after the
// server went away (restarted) would "succeed" into a dead socket and be
// lost; later writes fail with EPIPE and are retried on a new connection.
func peerClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func (s *SyslogOutput) closeConn() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *SyslogOutput) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeConn()
	return nil
}

// format builds an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
//
// with MSGID "alert", no structured data and the JSON document as MSG,
// without a BOM (JSON parsers downstream reject a leading BOM; the JSON
// is UTF-8 anyway).
func (s *SyslogOutput) format(body []byte) []byte {
	pri := s.facility*8 + severityOf(body)
	ts := s.now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	head := fmt.Sprintf("<%d>1 %s %s %s %d %s - ", pri, ts,
		headerField(s.cfg.Hostname, 255), headerField(s.cfg.AppName, 48), s.pid, syslogMsgID)
	msg := make([]byte, 0, len(head)+len(body))
	msg = append(msg, head...)
	return append(msg, oneLine(body)...)
}

// headerField makes v a valid RFC 5424 header field: printable US-ASCII
// without spaces, at most max characters, "-" when empty.
func headerField(v string, max int) string {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v) && len(b) < max; i++ {
		if c := v[i]; c > 32 && c < 127 {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// severityOf maps an ECS document to a syslog severity. event.severity is
// webfim's scale (see docs/ecs.md): 4 critical, 3 high, 2 medium, 1 low,
// 0 info. Larger values are read on Elastic's 0-100 scale (critical >= 74,
// high >= 48, medium >= 22, low >= 1). Without event.severity,
// event.kind "alert" is a warning and anything else informational.
func severityOf(body []byte) int {
	var doc struct {
		Event struct {
			Severity *float64 `json:"severity"`
			Kind     string   `json:"kind"`
		} `json:"event"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return sevWarning
	}
	if s := doc.Event.Severity; s != nil && *s <= 4 {
		switch {
		case *s >= 4:
			return sevCritical
		case *s >= 3:
			return sevError
		case *s >= 2:
			return sevWarning
		case *s >= 1:
			return sevNotice
		default:
			return sevInfo
		}
	}
	if s := doc.Event.Severity; s != nil {
		switch {
		case *s >= 74:
			return sevCritical
		case *s >= 48:
			return sevError
		case *s >= 22:
			return sevWarning
		default:
			return sevNotice
		}
	}
	if doc.Event.Kind == "alert" {
		return sevWarning
	}
	return sevInfo
}
