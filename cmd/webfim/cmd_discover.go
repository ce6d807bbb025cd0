package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"webfim/serverconf"
)

// discoverCommand is the "webfim discover" command, registered in main.go.
func discoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "discover",
		Usage: "find server configurations and the web roots they declare",
		Description: "Looks for IIS, Exchange, Apache, nginx, PHP and Tomcat configurations at their standard\n" +
			"Linux and Windows locations and prints them with the web roots they serve, and the Windows\n" +
			"registry hives (SYSTEM, SOFTWARE) with the IIS, WAS, Exchange transport and Terminal Services\n" +
			"keys they hold. With --sysroot the search runs inside a mounted disk image or offline copy of\n" +
			"a server; symbolic links are resolved inside it and Windows paths match case-insensitively.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sysroot", Usage: "examine the server mounted at `DIR` instead of this system"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
		},
		Action: discoverAction,
	}
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
	printRegistry(w, d.Registry)
	return nil
}

// printRegistry lists the registry hives found and the inventoried keys
// they hold.
func printRegistry(w io.Writer, hives []serverconf.RegistryHive) {
	if len(hives) == 0 {
		return
	}
	fmt.Fprintln(w, "registry:")
	for _, h := range hives {
		fmt.Fprintf(w, "  %-8s %s", h.Hive, h.Path)
		if h.ControlSet != "" {
			fmt.Fprintf(w, "  (CurrentControlSet = %s)", h.ControlSet)
		}
		fmt.Fprintln(w)
		if h.Error != "" {
			fmt.Fprintf(w, "    cannot be read: %s\n", h.Error)
		}
		for _, k := range h.Keys {
			fmt.Fprintf(w, "    %s\n", k)
		}
		if len(h.Keys) == 0 && h.Error == "" {
			fmt.Fprintln(w, "    (none of the inventoried keys)")
		}
		for _, l := range h.Logs {
			state := "applied"
			switch {
			case l.Err != "":
				state = "unreadable: " + l.Err
			case l.Size == 0:
				state = "empty"
			case l.Pending:
				state = "holds changes not in the hive, not replayed"
			}
			fmt.Fprintf(w, "    log %s: %s\n", l.Name, state)
		}
		for _, warn := range h.Warnings {
			fmt.Fprintf(w, "    warning: %s\n", warn)
		}
	}
}

// rootOrigin says which config declared a web root.
func rootOrigin(r serverconf.WebRoot) string {
	if r.Line > 0 {
		return fmt.Sprintf("%s, %s:%d", r.Server, r.Source, r.Line)
	}
	return fmt.Sprintf("%s, %s", r.Server, r.Source)
}
