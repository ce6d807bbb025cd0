package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"webfim/trust"
)

// keyCommand is the "webfim key" command, registered in main.go.
func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "manage the keys that sign baselines",
		Subcommands: []*cli.Command{{
			Name:  "generate",
			Usage: "make an Ed25519 key pair (OpenSSH format) for signing baselines",
			Description: `Writes FILE (the private key, mode 0600) and FILE.pub. The key is
encrypted with $WEBFIM_KEY_PASSPHRASE when it is set. Keys made by
ssh-keygen -t ed25519 (or -t ed25519-sk, on a FIDO token via ssh-agent)
work as well.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "private key `FILE` (the public key goes to FILE.pub)", Required: true},
				&cli.StringFlag{Name: "comment", Value: "webfim-baseline", Usage: "key comment, shown with the fingerprint"},
				&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
			},
			Action: keyGenerate,
		}},
	}
}

func keyGenerate(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", c.Args().First())}
	}
	out := c.String("output")
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if c.Bool("force") {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	priv, pub, err := trust.GenerateKey(c.String("comment"), []byte(os.Getenv("WEBFIM_KEY_PASSPHRASE")))
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{out, priv, 0o600}, {out + ".pub", pub, 0o644}} {
		fh, err := os.OpenFile(f.path, flags, f.mode)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists (--force overwrites it)", f.path)
		}
		if err != nil {
			return err
		}
		if _, err := fh.Write(f.data); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	tk, err := trust.ParseTrustedKey(string(pub))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s\n", pub[:len(pub)-1])
	infof(c, "key %s written to %s and %s.pub\ntrust it on the servers in webfim.yml:\n  trusted_keys:\n    - %q\n", tk, out, out, string(pub[:len(pub)-1]))
	return nil
}
