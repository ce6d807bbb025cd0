package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"webfim/serverconf"
)

func init() {
	register(&cli.Command{
		Name:  "discover",
		Usage: "find server configurations and the web roots they declare",
		Description: "Looks for IIS, Exchange, Apache, nginx, PHP and Tomcat configurations at their standard\n" +
			"Linux and Windows locations and prints them with the web roots they serve. With --sysroot\n" +
			"the search runs inside a mounted disk image or offline copy of a server; symbolic links\n" +
			"are resolved inside it and Windows paths match case-insensitively.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sysroot", Usage: "examine the server mounted at `DIR` instead of this system"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
		},
		Action: discoverAction,
	})
}

func discoverAction(c *cli.Context) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return usageError{fmt.Errorf("--format must be text or json, not %q", format)}
	}
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("discover takes no arguments, got %q", c.Args().First())}
	}
	d, err := serverconf.Discover(c.String("sysroot"))
	if err != nil {
		return cli.Exit("discover: "+err.Error(), exitError)
	}
	w := c.App.Writer
	if format == "json" {
		if d.Configs == nil {
			d.Configs = []serverconf.Config{}
		}
		if d.WebRoots == nil {
			d.WebRoots = []serverconf.WebRoot{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	fmt.Fprintln(w, "configs:")
	for _, cf := range d.Configs {
		fmt.Fprintf(w, "  %-9s %s\n", cf.Server, cf.Path)
	}
	fmt.Fprintln(w, "web roots:")
	for _, r := range d.WebRoots {
		fmt.Fprintf(w, "  %s  (%s)\n", r.Path, rootOrigin(r))
	}
	if len(d.Unavailable) > 0 {
		fmt.Fprintln(w, "web roots declared but not watched:")
		for _, r := range d.Unavailable {
			fmt.Fprintf(w, "  %s: %s  (%s)\n", r.Path, r.Reason, rootOrigin(r))
		}
	}
	return nil
}

// rootOrigin says which config declared a web root.
func rootOrigin(r serverconf.WebRoot) string {
	if r.Line > 0 {
		return fmt.Sprintf("%s, %s:%d", r.Server, r.Source, r.Line)
	}
	return fmt.Sprintf("%s, %s", r.Server, r.Source)
}
