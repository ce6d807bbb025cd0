package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"webfim/serverconf"
)

// modulesCommand is the "webfim modules" command, registered in main.go.
func modulesCommand() *cli.Command {
	return &cli.Command{
		Name:      "modules",
		Usage:     "print the server module inventory of configuration files or registry hives",
		ArgsUsage: "FILE...",
		Description: "Parses IIS, web.config, Exchange, Apache, .htaccess, nginx, PHP and Tomcat configurations\n" +
			"into their modules, handlers, filters, agents, prepend files and web roots. The server type\n" +
			"is guessed from the file name and content unless --server is given. --registry HIVE prints\n" +
			"the registry inventory of a SYSTEM or SOFTWARE hive file (a file starting with \"regf\" given\n" +
			"as FILE is one too; on Windows, HKLM\\SYSTEM or HKLM\\SOFTWARE reads the live registry): the\n" +
			"values of the IIS, WAS, Exchange transport and Terminal Services keys, for triage.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
			&cli.StringSliceFlag{Name: "registry", Usage: "print the registry inventory of the hive file `HIVE` (repeatable)"},
			&cli.StringFlag{Name: "server", Usage: "parse as `NAME`: " + strings.Join(serverconf.Servers(), ", ")},
			&cli.StringFlag{Name: "sysroot", Usage: "resolve includes and module binaries inside `DIR` (a mounted server image)"},
		},
		Action: modulesAction,
	}
}

func modulesAction(c *cli.Context) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return usageError{fmt.Errorf("--format must be text or json, not %q", format)}
	}
	server := c.String("server")
	if server != "" && !slices.Contains(serverconf.Servers(), server) {
		return usageError{fmt.Errorf("--server must be one of %s, not %q", strings.Join(serverconf.Servers(), ", "), server)}
	}
	hives := c.StringSlice("registry")
	if c.NArg() == 0 && len(hives) == 0 {
		return usageError{fmt.Errorf("modules: no FILE or --registry HIVE given")}
	}
	var invs []serverconf.Inventory
	var failed error
	parse := func(name, server string) {
		if err := readable(name); err != nil && !(server == "registry" && serverconf.IsLiveRegistry(name)) {
			fmt.Fprintln(os.Stderr, "webfim: modules:", err)
			failed = cli.Exit("", exitError)
			return
		}
		invs = append(invs, serverconf.ParseFile(c.String("sysroot"), name, server))
	}
	for _, name := range hives {
		parse(name, "registry")
	}
	for _, name := range c.Args().Slice() {
		parse(name, server)
	}

	w := c.App.Writer
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if invs == nil {
			invs = []serverconf.Inventory{}
		}
		if err := enc.Encode(invs); err != nil {
			return err
		}
	} else {
		for _, inv := range invs {
			printInventory(w, inv)
		}
	}
	return failed
}

// readable reports why name cannot be read; a file that can be read but
// not parsed is not an error here, its inventory says so.
func readable(name string) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	return f.Close()
}

func printInventory(w io.Writer, inv serverconf.Inventory) {
	server := inv.Server
	if server == "" {
		server = "unknown"
	}
	fmt.Fprintf(w, "%s (%s) blake3:%s\n", inv.Source, server, inv.BLAKE3)
	if inv.Err != nil {
		fmt.Fprintf(w, "  unparsable: %v\n", inv.Err)
	}
	for _, warn := range inv.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	for _, it := range inv.Items {
		if it.Kind == "unparsable" && inv.Err != nil && it.Source == inv.Source {
			continue
		}
		fmt.Fprintf(w, "  %s \"%s\"", it.Kind, it.Name)
		if it.Scope != "" {
			fmt.Fprintf(w, " scope=\"%s\"", it.Scope)
		}
		if it.Image != "" {
			fmt.Fprintf(w, " image=\"%s\"", it.Image)
		}
		if it.Type != "" {
			fmt.Fprintf(w, " type=\"%s\"", it.Type)
		}
		keys := make([]string, 0, len(it.Attrs))
		for k := range it.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, " %s=\"%s\"", k, it.Attrs[k])
		}
		if it.ImageBLAKE3 != "" {
			fmt.Fprintf(w, " image_blake3=%s", it.ImageBLAKE3[:16])
		}
		fmt.Fprintf(w, " (%s:%d)\n", it.Source, it.Line)
	}
}
