package output

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
)

// Types of output, the values of [Config].Type.
const (
	TypeStdout        = "stdout"
	TypeFile          = "file"
	TypeSyslog        = "syslog"
	TypeElasticsearch = "elasticsearch"
)

// Config is one output as written in the config file (an entry of
// "outputs") or given with --output: a Type and the settings of that type.
// It is the one definition of what an output accepts: the config file
// embeds it, [Config.Validate] checks it and fills in the defaults, and
// [Build] opens the outputs.
type Config struct {
	Type string `yaml:"type"`
	// Only the settings of Type may be set; the others stay zero.
	FileConfig   `yaml:",inline"`
	SyslogConfig `yaml:",inline"`
	ESConfig     `yaml:",inline"`
}

// typeSettings pairs each output type with its settings, for the check
// that an output sets no setting of another type.
func (c *Config) typeSettings() []struct {
	typ      string
	settings any
} {
	return []struct {
		typ      string
		settings any
	}{{TypeFile, c.FileConfig}, {TypeSyslog, c.SyslogConfig}, {TypeElasticsearch, c.ESConfig}}
}

// FieldError is a bad setting of an output. Key is the setting's YAML key
// relative to the output, such as "urls[0]"; the config file reader
// prefixes it with the output's place ("outputs[1].urls[0]") and line.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }

func fieldErrorf(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Validate checks the output's type and settings and fills in the
// defaults. Errors are *[FieldError] values and wrap [ErrInvalidConfig].
func (c *Config) Validate() error {
	switch c.Type {
	case "":
		return fieldErrorf("type", "missing: want stdout, file, syslog or elasticsearch")
	case TypeStdout, TypeFile, TypeSyslog, TypeElasticsearch:
	default:
		return fieldErrorf("type", "unknown output type %q (want stdout, file, syslog or elasticsearch)", c.Type)
	}
	for _, ts := range c.typeSettings() {
		if ts.typ == c.Type {
			continue
		}
		if key := firstSet(ts.settings); key != "" {
			return fieldErrorf(key, "not a setting of a %s output", c.Type)
		}
	}
	switch c.Type {
	case TypeFile:
		return c.FileConfig.Validate()
	case TypeSyslog:
		return c.SyslogConfig.Validate()
	case TypeElasticsearch:
		return c.ESConfig.Validate()
	}
	return nil
}

// firstSet returns the YAML key of the first non-zero setting of a
// settings struct, or "".
func firstSet(settings any) string {
	v := reflect.ValueOf(settings)
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" && !v.Field(i).IsZero() {
			return name
		}
	}
	return ""
}

// Redacted returns a copy with its secrets replaced: the API key, the
// password, and passwords embedded in URLs (https://user:pass@host).
func (c Config) Redacted() Config {
	const mask = "<redacted>"
	if c.APIKey != "" {
		c.APIKey = mask
	}
	if c.Password != "" {
		c.Password = mask
	}
	if c.URLs != nil {
		urls := make([]string, len(c.URLs))
		for i, u := range c.URLs {
			urls[i] = redactURL(u)
		}
		c.URLs = urls
	}
	return c
}

// redactURL hides the password of a URL's user information
// (https://user:xxxxx@host, which still parses); a string that does not
// parse is hidden whole when it may hold one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "<redacted URL>"
		}
		return s
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	return s
}

// FlagUsage describes the values of --output.
const FlagUsage = "stdout, file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT, syslog:unix:///PATH, syslog:unixgram:///PATH, elasticsearch:URL"

// ParseFlag turns one --output value into a validated Config, with the
// same defaults and checks as the config file.
func ParseFlag(v string) (Config, error) {
	kind, arg, _ := strings.Cut(v, ":")
	var c Config
	switch kind {
	case TypeStdout:
		if arg != "" {
			return Config{}, fmt.Errorf("--output %q: stdout takes no argument", v)
		}
		c = Config{Type: TypeStdout}
	case TypeFile:
		c = Config{Type: TypeFile, FileConfig: FileConfig{Path: arg}}
	case TypeSyslog:
		network, addr, ok := strings.Cut(arg, "://")
		if !ok {
			return Config{}, fmt.Errorf("--output %q: want syslog:NETWORK://ADDRESS (network udp, tcp, unix or unixgram)", v)
		}
		c = Config{Type: TypeSyslog, SyslogConfig: SyslogConfig{Network: network, Address: addr}}
	case TypeElasticsearch:
		c = Config{Type: TypeElasticsearch, ESConfig: ESConfig{URLs: []string{arg}}}
	default:
		return Config{}, fmt.Errorf("--output %q: want %s", redactURL(v), FlagUsage)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("--output %q: %w", c.describe(), err)
	}
	return c, nil
}

// describe is the --output form of c, secrets redacted, for messages.
func (c Config) describe() string {
	r := c.Redacted()
	switch c.Type {
	case TypeFile:
		return "file:" + r.Path
	case TypeSyslog:
		return "syslog:" + r.Network + "://" + r.Address
	case TypeElasticsearch:
		return "elasticsearch:" + strings.Join(r.URLs, ",")
	}
	return c.Type
}

// Build validates configs and opens their outputs; stdout outputs write to
// stdout. On an error the outputs already opened are closed again, and the
// error names the output by its index.
func Build(configs []Config, stdout io.Writer) ([]Output, error) {
	outs := make([]Output, 0, len(configs))
	fail := func(i int, err error) ([]Output, error) {
		for _, o := range outs {
			o.Close()
		}
		return nil, fmt.Errorf("outputs[%d]: %w", i, err)
	}
	for i, c := range configs {
		if err := c.Validate(); err != nil {
			return fail(i, err)
		}
		var o Output
		var err error
		switch c.Type {
		case TypeStdout:
			o = Stdout(stdout)
		case TypeFile:
			o, err = File(c.FileConfig)
		case TypeSyslog:
			o, err = Syslog(c.SyslogConfig)
		case TypeElasticsearch:
			o, err = Elasticsearch(c.ESConfig)
		}
		if err != nil {
			return fail(i, err)
		}
		outs = append(outs, o)
	}
	if len(outs) == 0 {
		return nil, errors.New("no output configured")
	}
	return outs, nil
}
