package output

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"webfim/config/bytesize"
	"webfim/safefile"
)

// Fsync policies of [FileConfig].
const (
	FsyncBatch    = "batch"    // fsync after every batch, before it is acknowledged (default)
	FsyncAlways   = "always"   // fsync after every document
	FsyncInterval = "interval" // fsync at most every FsyncInterval; a power loss may lose the last interval
	FsyncNever    = "never"    // leave flushing to the operating system
)

// Defaults of [FileConfig].
const (
	DefaultMaxSize       = 100 << 20 // 100 MiB
	DefaultMaxFiles      = 5
	DefaultFsyncInterval = time.Second
)

// FileConfig configures a [File] output; the yaml keys are those of a
// "type: file" output in the config file.
type FileConfig struct {
	// Path of the active file, e.g. /var/log/webfim/webfim.ndjson. Rotated
	// files are Path.1 (newest) to Path.MaxFiles (oldest).
	Path string `yaml:"path,omitempty"`
	// MaxSize is the size at which the file is rotated; 0 means
	// DefaultMaxSize. A single document larger than MaxSize is still written
	// (alone in its file).
	MaxSize bytesize.Size `yaml:"max_size,omitempty"`
	// MaxFiles is how many rotated files are kept besides the active one;
	// 0 means DefaultMaxFiles.
	MaxFiles int `yaml:"max_files,omitempty"`
	// Fsync is FsyncBatch (also when empty), FsyncAlways, FsyncInterval or FsyncNever.
	Fsync string `yaml:"fsync,omitempty"`
	// FsyncInterval is the period of FsyncInterval; 0 means
	// DefaultFsyncInterval. Only FsyncInterval uses it.
	FsyncInterval time.Duration `yaml:"fsync_interval,omitempty"`
}

// Validate checks the configuration and fills in defaults. Errors are
// *[FieldError] values.
func (c *FileConfig) Validate() error {
	if c.Path == "" {
		return fieldErrorf("path", "missing: a file output needs a path")
	}
	if c.MaxSize < 0 {
		return fieldErrorf("max_size", "negative size %d", c.MaxSize)
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxFiles < 0 {
		return fieldErrorf("max_files", "negative number of files %d", c.MaxFiles)
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = DefaultMaxFiles
	}
	switch c.Fsync {
	case "":
		c.Fsync = FsyncBatch
	case FsyncBatch, FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return fieldErrorf("fsync", "unknown fsync policy %q (want %s, %s, %s or %s)", c.Fsync, FsyncBatch, FsyncAlways, FsyncInterval, FsyncNever)
	}
	if c.FsyncInterval < 0 {
		return fieldErrorf("fsync_interval", "negative duration %v", c.FsyncInterval)
	}
	if c.FsyncInterval == 0 && c.Fsync == FsyncInterval {
		c.FsyncInterval = DefaultFsyncInterval
	}
	return nil
}

// FileOutput appends NDJSON to a size-rotated file.
type FileOutput struct {
	cfg FileConfig

	mu       sync.Mutex
	f        *os.File
	size     int64
	dirty    bool // written since the last fsync
	lastSync time.Time
	syncs    int // number of fsyncs done, for tests
	closed   bool

	stop chan struct{}
	done chan struct{}
}

// File opens (creating with mode 0600 if needed) the file output described by cfg.
func File(cfg FileConfig) (*FileOutput, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("file output: %w", err)
	}
	o := &FileOutput{cfg: cfg, lastSync: time.Now()}
	if err := o.open(); err != nil {
		return nil, err
	}
	if cfg.Fsync == FsyncInterval {
		o.stop, o.done = make(chan struct{}), make(chan struct{})
		go o.syncLoop()
	}
	return o, nil
}

// open opens (or creates) Path with the checks of package safefile: a
// symbolic link planted at Path, or a directory another user can write
// to, would let that user choose the file a root daemon appends to.
func (o *FileOutput) open() error {
	f, err := safefile.OpenFile(o.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file output: %w", err)
	}
	o.f, o.size = f, fi.Size()
	return nil
}

// Name returns "file:" and the path.
func (o *FileOutput) Name() string { return "file:" + o.cfg.Path }

// Write appends docs, rotating when the file would exceed MaxSize, and with
// FsyncBatch or FsyncAlways syncs before returning. A failed write is truncated away so the
// file never holds a partial line.
func (o *FileOutput) Write(ctx context.Context, docs []Doc) error {
	if len(docs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("file output %s: closed", o.cfg.Path)
	}
	if o.f != nil && o.replacedExternally() {
		// Moved away or deleted (logrotate, an administrator): writing on
		// would go to a file nobody ships. Start a new one at Path.
		o.f.Close()
		o.f = nil
	}
	if o.f == nil { // a previous rotation failed half way, or see above
		if err := o.open(); err != nil {
			return err
		}
	}
	failedFrom := len(docs)
	var werr error
	for i, d := range docs {
		body := oneLine(d.Body)
		line := make([]byte, 0, len(body)+1)
		line = append(append(line, body...), '\n')
		if o.size > 0 && o.size+int64(len(line)) > int64(o.cfg.MaxSize) {
			if err := o.rotate(); err != nil {
				failedFrom, werr = i, err
				break
			}
		}
		n, err := o.f.Write(line)
		if err == nil && n < len(line) {
			err = errors.New("short write")
		}
		if err != nil {
			// Remove the partial line; the document is retried later.
			o.f.Truncate(o.size)
			failedFrom, werr = i, fmt.Errorf("file output %s: %w", o.cfg.Path, err)
			break
		}
		o.size += int64(n)
		o.dirty = true
		if o.cfg.Fsync == FsyncAlways {
			if err := o.sync(); err != nil {
				failedFrom, werr = i, fmt.Errorf("file output %s: fsync: %w", o.cfg.Path, err)
				break
			}
		}
	}
	if o.cfg.Fsync == FsyncBatch && o.f != nil && o.dirty {
		if err := o.sync(); err != nil {
			// Nothing since the last successful sync is known to be on disk.
			return fmt.Errorf("file output %s: fsync: %w", o.cfg.Path, err)
		}
	}
	if werr != nil {
		return &PartialError{Failed: rangeFrom(failedFrom, len(docs)), Err: werr}
	}
	return nil
}

// replacedExternally reports whether Path no longer names the open file
// (a symbolic link put in its place does not: it is not followed).
func (o *FileOutput) replacedExternally() bool {
	onDisk, err := os.Lstat(o.cfg.Path)
	if err != nil {
		return true
	}
	open, err := o.f.Stat()
	return err != nil || !os.SameFile(onDisk, open)
}

func (o *FileOutput) sync() error {
	if err := o.f.Sync(); err != nil {
		return err
	}
	o.dirty = false
	o.lastSync = time.Now()
	o.syncs++
	return nil
}

// rotate renames Path.k to Path.k+1 (dropping the oldest) and Path to
// Path.1, then opens a new empty Path. Unless the policy is FsyncNever the
// old file is synced first so a rotated file is complete on disk.
func (o *FileOutput) rotate() error {
	if o.cfg.Fsync != FsyncNever && o.dirty {
		if err := o.sync(); err != nil {
			return fmt.Errorf("file output %s: fsync before rotation: %w", o.cfg.Path, err)
		}
	}
	if err := o.f.Close(); err != nil {
		o.f = nil
		return fmt.Errorf("file output %s: close before rotation: %w", o.cfg.Path, err)
	}
	o.f = nil
	name := func(k int) string { return o.cfg.Path + "." + strconv.Itoa(k) }
	if err := os.Remove(name(o.cfg.MaxFiles)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("file output: rotation: %w", err)
	}
	for k := o.cfg.MaxFiles - 1; k >= 1; k-- {
		if err := os.Rename(name(k), name(k+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file output: rotation: %w", err)
		}
	}
	if err := os.Rename(o.cfg.Path, name(1)); err != nil {
		return fmt.Errorf("file output: rotation: %w", err)
	}
	if err := o.open(); err != nil {
		return err
	}
	if o.cfg.Fsync != FsyncNever {
		syncDir(filepath.Dir(o.cfg.Path))
	}
	return nil
}

func (o *FileOutput) syncLoop() {
	defer close(o.done)
	t := time.NewTicker(o.cfg.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.mu.Lock()
			if o.f != nil && o.dirty {
				o.sync() // an error resurfaces at the next sync or Close
			}
			o.mu.Unlock()
		}
	}
}

// Close syncs (unless FsyncNever) and closes the file.
func (o *FileOutput) Close() error {
	if o.stop != nil {
		close(o.stop)
		<-o.done
		o.stop = nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if o.f == nil {
		return nil
	}
	var err error
	if o.cfg.Fsync != FsyncNever && o.dirty {
		err = o.sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	o.f = nil
	if err != nil {
		return fmt.Errorf("file output %s: %w", o.cfg.Path, err)
	}
	return nil
}

// syncDir makes a rename durable. It is best effort: directories cannot be
// synced on every platform (Windows).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
