package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"webfim/alert"
	"webfim/attribution"
	"webfim/config"
	"webfim/output"
	"webfim/store"
	"webfim/watch"
)

// watchCommand is the "webfim watch" command, registered in main.go.
func watchCommand() *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "watch the roots and server configs continuously and deliver ECS alerts",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics and /healthz on `ADDR` (e.g. 127.0.0.1:9737)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json"},
			&cli.DurationFlag{Name: "drain-timeout", Value: 30 * time.Second, Usage: "on SIGINT/SIGTERM, keep delivering the outbox this long"},
			&cli.StringSliceFlag{Name: "output", Usage: "deliver alerts to `OUT` instead of the config's outputs (repeatable): " + output.FlagUsage},
		}, targetFlags...),
		Action: watchAction,
	}
}

func watchAction(c *cli.Context) error {
	// The daemon lives beside the web server for days: it keeps the
	// default, leaner collector instead of the batch commands' GOGC 400
	// (see tuneGC); peak RSS on 1,000,000 files is then about 100 MB
	// instead of 140 MB.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(100)
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	switch c.String("log-format") {
	case "text":
	case "json":
		h = slog.NewJSONHandler(os.Stderr, nil)
	default:
		return usageError{fmt.Errorf("--log-format %q: want text or json", c.String("log-format"))}
	}
	log := slog.New(h)
	if d := c.Duration("drain-timeout"); d < 0 {
		return usageError{fmt.Errorf("--drain-timeout must not be negative, got %s", d)}
	}

	db, err := openDB(c)
	if err != nil {
		return err
	}
	// One daemon per database: a second would deliver this one's outbox.
	lock, err := db.LockDaemon()
	if err != nil {
		return err
	}
	defer lock.Release()
	cfg, pol, err := watchConfig(c, db)
	if err != nil {
		return err
	}
	conf, err := effectiveOutputs(c, pol)
	if err != nil {
		return usageError{err}
	}
	// Documents an output rejects for good (an Elasticsearch mapping
	// error) are kept in the dead-letter file instead of retried forever.
	dl, err := output.OpenDeadLetter(output.FileConfig{Path: pol.DeadLetterPath(db.Path())})
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	defer dl.Close()
	outs, err := output.Build(conf, c.App.Writer)
	if err != nil {
		return usageError{err}
	}
	dm := &delivery{outbox: storeOutbox{db}, opt: output.DelivererOptions{
		OnError:    func(name string, err error) { log.Warn("delivery failed; retrying", "output", name, "err", err) },
		DeadLetter: dl,
		OnDeadLetter: func(name string, r output.RejectedDoc) {
			log.Error("output rejected a document for good; kept in the dead-letter file, not retried",
				"output", name, "event.id", r.Doc.ID, "reason", r.Reason, "file", dl.Path())
		},
	}}
	if err := dm.start(outs, conf); err != nil {
		closeOutputs(outs)
		return err
	}
	var rootNames atomic.Pointer[map[string]string] // replaced on reload, read by the sink
	names := pol.RootNames()
	rootNames.Store(&names)
	sink := &watch.OutboxSink{
		Outbox: outboxQueue{db}, MaxEntries: pol.Outbox.MaxEntries, Notify: dm.Notify, Logger: log,
		Env: func() alert.Env {
			env := alert.DefaultEnv(version)
			env.RootNames = *rootNames.Load()
			return env
		},
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	// Process attribution (Linux): which process wrote a file, which
	// server spawned a shell. Started before the daemon, so that its
	// first look at the roots already knows the writers.
	attr, err := startAttribution(ctx, pol)
	if err != nil {
		dm.stop(0)
		return err
	}
	deps := watch.Deps{
		Store: daemonStore{db}, Judge: &pol.Policy, Sink: sink, Logger: log,
		CreateBaseline: baselineCreator(db, "watch-initial", log),
		OutboxStats:    db.OutboxStats,
		DeliveryErrors: dm.Errors,
		DeadLetters:    dm.DeadLetters,
		DatabasePath:   db.Path(),
		Busy:           func(err error) bool { return errors.Is(err, store.ErrLocked) },
	}
	if attr != nil {
		defer attr.Close()
		deps.Attribution = daemonAttribution{attr}
	} else {
		log.Info("attribution", "status", "off (attribution.enabled: false)")
	}
	d, err := watch.New(cfg, deps)
	if err != nil {
		dm.stop(0)
		return err
	}

	if addr := c.String("metrics-addr"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			dm.stop(0)
			return usageError{fmt.Errorf("--metrics-addr: %w", err)}
		}
		srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := reloadWatch(ctx, c, db, d, dm, attr, &rootNames); err != nil {
					log.Error("reload rejected; keeping the running configuration", "err", err)
					continue
				}
				log.Info("reloaded", "config", c.String("config"))
			}
		}
	}()

	// On SIGTERM the daemon stops first, then the deliverer, then the
	// outbox is drained within --drain-timeout.
	runErr := d.Run(ctx)
	drain := c.Duration("drain-timeout")
	if runErr == nil {
		log.Info("stopping: delivering the outbox", "timeout", drain)
	}
	drainErr := dm.stop(drain)
	logUndelivered(log, db, drainErr)
	return runErr
}

// logUndelivered says, once the drain at shutdown ended, how many
// documents are still in the outbox: they are delivered at the next
// start.
func logUndelivered(log *slog.Logger, db *store.DB, drainErr error) {
	depth, _, err := db.OutboxStats()
	switch {
	case err != nil:
		log.Warn("stopped; cannot count the undelivered documents", "err", err, "drain_err", drainErr)
	case depth > 0:
		attrs := []any{"undelivered", depth}
		if drainErr != nil {
			attrs = append(attrs, "err", drainErr)
		}
		log.Warn("stopped with documents undelivered; they are delivered at the next start", attrs...)
	default:
		log.Info("stopped; every document was delivered", "undelivered", 0)
	}
}

// reloadWatch applies the configuration file again (SIGHUP): the daemon's
// roots, configs and policy, and its outputs when they changed. Nothing
// changes unless all of it is valid: new outputs are built (a file opened,
// a syslog address resolved) before the daemon takes its new
// configuration, and replace the old ones only then.
func reloadWatch(ctx context.Context, c *cli.Context, db *store.DB, d *watch.Daemon, dm *delivery, attr *attribution.Service, rootNames *atomic.Pointer[map[string]string]) error {
	ncfg, npol, err := watchConfig(c, db)
	if err != nil {
		return err
	}
	// The lineage allowlist takes effect now; the other attribution
	// settings (enabled, sources) when the daemon restarts.
	rules, err := npol.Attribution.Rules()
	if err != nil {
		return err
	}
	nconf, err := effectiveOutputs(c, npol)
	if err != nil {
		return err
	}
	var nouts []output.Output
	changed := !reflect.DeepEqual(nconf, dm.configured())
	if changed {
		if nouts, err = output.Build(nconf, c.App.Writer); err != nil {
			return err
		}
	}
	if err := d.Reload(ctx, ncfg, &npol.Policy); err != nil {
		closeOutputs(nouts)
		return err
	}
	if attr != nil {
		attr.SetRules(rules)
	}
	names := npol.RootNames()
	rootNames.Store(&names)
	if changed {
		if err := dm.replace(nouts, nconf); err != nil {
			return fmt.Errorf("outputs: %w", err)
		}
	}
	return nil
}

// watchConfig builds the daemon's configuration from the flags and the
// config file, with the same target resolution as baseline create and diff.
func watchConfig(c *cli.Context, db *store.DB) (watch.Config, *config.Config, error) {
	pol, err := loadConfig(c.String("config"))
	if err != nil {
		return watch.Config{}, nil, err
	}
	t, err := target(c, db)
	if err != nil {
		return watch.Config{}, nil, err
	}
	w := pol.Watch
	cfg := watch.Config{
		Target:           t,
		Debounce:         watch.DebounceOptions{Quiet: w.Debounce},
		Schedule:         watch.Schedule{Fast: orDisabled(w.RescanInterval), Full: orDisabled(w.FullRescanInterval)},
		ReminderInterval: w.ReminderInterval,
		RescanRateLimit:  int64(w.RescanRateLimit),
	}
	if pol.RequireSigned {
		ring, err := configKeyRing(pol)
		if err != nil {
			return watch.Config{}, nil, err
		}
		cfg.Verifier = newTrustVerifier(db, ring)
	}
	return cfg, pol, nil
}

// orDisabled maps the config's "0 disables" to the schedule's negative.
func orDisabled(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// effectiveOutputs returns the outputs to deliver to: the --output flags,
// else the config file's.
func effectiveOutputs(c *cli.Context, pol *config.Config) ([]output.Config, error) {
	flags := c.StringSlice("output")
	if len(flags) == 0 {
		return pol.Outputs, nil
	}
	var configured []output.Config
	for _, v := range flags {
		o, err := output.ParseFlag(v)
		if err != nil {
			return nil, err
		}
		configured = append(configured, o)
	}
	return configured, nil
}
