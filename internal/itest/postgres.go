//go:build linux

package itest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Postgres is a private PostgreSQL cluster (initdb in a temporary
// directory), running as the postgres user on its own port, reachable
// through a Unix socket only (listen_addresses is empty).
type Postgres struct {
	Dir       string // the cluster's data directory
	SocketDir string
	Port      int
	PID       int // the postmaster
	bin       string
	uid, gid  int
	cmd       *exec.Cmd
}

// postgresBin finds the newest installed PostgreSQL's bin directory.
func postgresBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	Skip(t, "PostgreSQL server not installed (.ci/run installs it: apt-get install -y postgresql)")
	return ""
}

// StartPostgres creates and starts a private cluster, stopped when the
// test ends. Needs root (to run it as postgres).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	RequireRoot(t, "running PostgreSQL as the postgres user")
	p := &Postgres{bin: postgresBin(t)}
	p.uid, p.gid = lookupIDs(t, "postgres")
	base := SharedDir(t)
	p.Dir, p.SocketDir = filepath.Join(base, "data"), filepath.Join(base, "sock")
	for _, d := range []string{p.Dir, p.SocketDir} {
		mkdir(t, d, 0o700)
		if err := os.Chown(d, p.uid, p.gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.command(filepath.Join(p.bin, "initdb"), "-D", p.Dir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Port = freePort(t)
	p.cmd = p.command(filepath.Join(p.bin, "postgres"), "-D", p.Dir, "-p", strconv.Itoa(p.Port), "-k", p.SocketDir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "logging_collector=off")
	p.cmd.SysProcAttr.Setpgid = true
	var stderr bytes.Buffer
	p.cmd.Stdout, p.cmd.Stderr = &stderr, &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	p.PID = p.cmd.Process.Pid
	// SIGINT: fast shutdown.
	t.Cleanup(func() { stopGroup(p.cmd, syscall.SIGINT) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := p.SQL("SELECT 1"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("postgres did not answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return p
}

// command prepares a command run as the postgres user.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Dir = "/"
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(p.uid), Gid: uint32(p.gid)}}
	return c
}

// SQL runs one statement with psql as the postgres superuser and returns
// its unaligned output.
func (p *Postgres) SQL(statement string) (string, error) {
	psql := filepath.Join(p.bin, "psql")
	if _, err := os.Stat(psql); err != nil {
		psql = "psql"
	}
	out, err := p.command(psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", p.SocketDir, "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", "postgres", "-c", statement).CombinedOutput()
	return string(out), err
}
