package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"webfim/config"
	"webfim/policy"
	"webfim/serverconf"
)

// initCommand is the "webfim init" command, registered in main.go.
func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "write a starter webfim.yml from the server configurations that discover finds",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sysroot", Usage: "discover inside the server mounted at `DIR`"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "webfim.yml", Usage: "`FILE` to write (- for stdout)"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file"},
		},
		Action: initAction,
	}
}

func initAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("init takes no arguments, got %q", c.Args().First())}
	}
	d, err := serverconf.Discover(c.String("sysroot"))
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	p := config.Default()
	for _, r := range d.WebRoots {
		p.Roots = append(p.Roots, policy.Root{Path: r.Path})
	}
	for _, cf := range d.Configs {
		p.Configs = append(p.Configs, cf.Path)
	}
	body, err := p.Marshal()
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# webfim configuration, written by 'webfim init' on %s at %s\n", host, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# from %d server configs and %d web roots found by discovery. Review it, then\n", len(d.Configs), len(d.WebRoots))
	fmt.Fprintln(&b, "# check it with 'webfim policy check FILE'. Reference: docs/policy.md.")
	for _, u := range d.Unavailable {
		// one comment line, whatever the path holds
		line := fmt.Sprintf("Declared but not watched: %s (%s): %s", u.Path, rootOrigin(u), u.Reason)
		fmt.Fprintf(&b, "# %s\n", strings.NewReplacer("\n", " ", "\r", " ").Replace(line))
	}
	b.Write(body)
	// What init writes must load: a starter file that fails validation
	// would be worse than none.
	if _, err := config.Parse(c.String("output"), b.Bytes()); err != nil {
		return fmt.Errorf("init: the generated configuration does not validate (a bug): %w", err)
	}
	out := c.String("output")
	if out == "-" {
		_, err := c.App.Writer.Write(b.Bytes())
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if c.Bool("force") {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(out, flags, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return usageError{fmt.Errorf("%s exists; use --force to overwrite it", out)}
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	infof(c, "wrote %s: %d web roots, %d server configs\n", out, len(p.Roots), len(p.Configs))
	return nil
}
