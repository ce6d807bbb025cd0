package lineage

import (
	"errors"
	"strings"
	"testing"

	"webfim/proc"
)

func p(pid int32, exe string, args ...string) *proc.Process {
	comm := exe
	if i := strings.LastIndexByte(exe, '/'); i >= 0 {
		comm = exe[i+1:]
	}
	return &proc.Process{PID: pid, Start: uint64(pid), Executable: exe, Comm: comm, Args: args}
}

func TestServerOf(t *testing.T) {
	for _, tc := range []struct {
		p    *proc.Process
		kind ServerKind
	}{
		{p(1, "/usr/sbin/apache2", "/usr/sbin/apache2", "-k", "start"), KindWebServer},
		{p(1, "/usr/sbin/nginx", "nginx: worker process"), KindWebServer},
		{p(1, "/usr/sbin/php-fpm8.2", "php-fpm: pool www"), KindAppServer},
		{&proc.Process{Comm: "php-fpm8.2", Args: []string{"php-fpm: pool www"}, Missing: proc.FieldExecutable}, KindAppServer},
		{p(1, "/usr/lib/postgresql/15/bin/postgres", "postgres: postgres postgres [local] COPY"), KindDatabase},
		{p(1, "/usr/sbin/mysqld"), KindDatabase},
		{p(1, "/usr/bin/python3.11", "/usr/bin/python3", "/usr/bin/gunicorn", "app:app"), KindAppServer},
		{p(1, "/usr/lib/jvm/java-17/bin/java", "java", "-cp", "/opt/tomcat/bin/bootstrap.jar", "org.apache.catalina.startup.Bootstrap", "start"), KindAppServer},
		{p(1, "/usr/bin/node", "node", "server.js"), KindAppServer},
		{p(1, "/usr/bin/caddy", "caddy", "run"), KindWebServer},
	} {
		if k, ok := ServerOf(tc.p); !ok || k != tc.kind {
			t.Errorf("%s %q: %q %v, want %q", tc.p.Executable, tc.p.Args, k, ok, tc.kind)
		}
	}
	for _, np := range []*proc.Process{
		p(1, "/usr/lib/jvm/java-17/bin/java", "java", "-jar", "build-tool.jar"),
		p(1, "/usr/bin/python3", "python3", "manage.py", "migrate"),
		p(1, "/usr/sbin/sshd"),
		nil,
	} {
		if k, ok := ServerOf(np); ok {
			t.Errorf("%+v is a %q", np, k)
		}
	}
}

func TestToolOf(t *testing.T) {
	for _, tc := range []struct {
		p    *proc.Process
		want ToolKind
	}{
		{p(1, "/usr/bin/dash", "sh", "-c", "whoami"), KindShell},
		{p(1, "/usr/bin/whoami", "whoami"), KindRecon},
		{p(1, "/usr/bin/id", "id"), KindRecon},
		{p(1, "/usr/bin/cat", "cat", "/etc/passwd"), KindRecon},
		{p(1, "/usr/bin/python3.11", "python3", "-c", "import pty"), KindInterpreter},
		{p(1, "/usr/bin/php8.2", "php", "-r", "system('id');"), KindInterpreter},
		{p(1, "/usr/bin/curl", "curl", "http://x/s.sh"), KindNetwork},
		{p(1, "/usr/bin/base64", "base64", "-d"), KindEncoding},
		{p(1, "/usr/bin/crontab", "crontab", "-l"), KindPersistence},
		{&proc.Process{Comm: "whoami", Missing: proc.FieldExecutable | proc.FieldArgs}, KindRecon},
	} {
		if k, ok := ToolOf(tc.p); !ok || k != tc.want {
			t.Errorf("%s %q: %q %v, want %q", tc.p.Executable, tc.p.Args, k, ok, tc.want)
		}
	}
	for _, np := range []*proc.Process{
		p(1, "/usr/bin/cat", "cat", "/var/www/index.html"),
		p(1, "/usr/bin/php8.2", "php", "/var/www/cron.php"),
		p(1, "/usr/bin/convert", "convert", "a.png", "b.jpg"),
		p(1, "/usr/sbin/sendmail", "sendmail", "-t", "-i"),
	} {
		if k, ok := ToolOf(np); ok {
			t.Errorf("%q is a %q", np.Args, k)
		}
	}
}

func mustRules(t *testing.T, allow ...Allow) *Rules {
	t.Helper()
	r, err := NewRules(0, allow)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheckLineage(t *testing.T) {
	apache := p(100, "/usr/sbin/apache2", "/usr/sbin/apache2", "-k", "start")
	worker := p(200, "/usr/sbin/apache2", "/usr/sbin/apache2", "-k", "start")
	sh := p(300, "/usr/bin/dash", "sh", "-c", "whoami")
	who := p(400, "/usr/bin/whoami", "whoami")
	r := mustRules(t, DefaultAllow...)

	f, ok := r.Check(who, []*proc.Process{sh, worker, apache})
	if !ok {
		t.Fatal("apache2 -> sh -> whoami not detected")
	}
	if f.Server != worker || f.Depth != 2 || f.Kind != KindWebServer || f.Tool != KindRecon || f.Parent != sh {
		t.Errorf("finding %+v", f)
	}
	if got := f.String(); got != "apache2(200) -> dash(300) -> whoami(400)" {
		t.Errorf("chain %q", got)
	}
	if f, ok := r.Check(sh, []*proc.Process{worker, apache}); !ok || f.Depth != 1 || f.Tool != KindShell {
		t.Errorf("apache2 -> sh: %+v %v", f, ok)
	}
	// The intermediate processes are gone: the inherited mark still tells.
	marked := *who
	marked.Server, marked.ServerDepth = worker, 2
	if f, ok := r.Check(&marked, nil); !ok || f.Server != worker || f.String() != "apache2(200) -> whoami(400)" {
		t.Errorf("from the mark: %+v %v", f, ok)
	}
	// Too deep.
	deep := []*proc.Process{sh, sh, sh, sh, worker}
	if f, ok := r.Check(who, deep); ok {
		t.Errorf("depth 5 detected: %v", f)
	}
	// Not below a server; a server spawning a server.
	if f, ok := r.Check(who, []*proc.Process{sh, p(2, "/usr/sbin/sshd")}); ok {
		t.Errorf("below sshd: %v", f)
	}
	if f, ok := r.Check(worker, []*proc.Process{apache}); ok {
		t.Errorf("apache2 -> apache2: %v", f)
	}
	// postgres -> sh -> id
	pg := p(500, "/usr/lib/postgresql/15/bin/postgres", "postgres: postgres postgres [local] COPY")
	if f, ok := r.Check(p(502, "/usr/bin/id", "id"), []*proc.Process{p(501, "/usr/bin/dash", "sh", "-c", "id"), pg}); !ok || f.Kind != KindDatabase || f.String() != "postgres(500) -> dash(501) -> id(502)" {
		t.Errorf("postgres -> sh -> id: %+v %v", f, ok)
	}
}

func TestAllow(t *testing.T) {
	fpm := p(10, "/usr/sbin/php-fpm8.2", "php-fpm: pool www")
	mail := p(11, "/usr/bin/dash", "sh", "-c", "/usr/sbin/sendmail -t -i ")
	mailInjected := p(12, "/usr/bin/dash", "sh", "-c", "/usr/sbin/sendmail -t -i ; id")
	logs := p(13, "/usr/bin/dash", "/bin/sh", "-c", "/usr/bin/rotatelogs /var/log/apache2/access.%Y 86400")
	apache := p(1, "/usr/sbin/apache2", "/usr/sbin/apache2")
	r := mustRules(t, DefaultAllow...)
	if f, ok := r.Check(mail, []*proc.Process{fpm}); ok {
		t.Errorf("PHP mail() alerted: %v", f)
	}
	if _, ok := r.Check(mailInjected, []*proc.Process{fpm}); !ok {
		t.Error("sendmail with '; id' appended allowed")
	}
	if f, ok := r.Check(logs, []*proc.Process{apache}); ok {
		t.Errorf("piped logs alerted: %v", f)
	}
	if _, ok := r.Check(logs, []*proc.Process{p(2, "/usr/sbin/nginx", "nginx")}); !ok {
		t.Error("rotatelogs allowance applied to nginx")
	}
	// A site's own allowance: its PHP app calls convert through a shell.
	conv := p(14, "/usr/bin/dash", "sh", "-c", "convert /var/www/up/a.png /var/www/up/a.jpg")
	if _, ok := r.Check(conv, []*proc.Process{fpm}); !ok {
		t.Fatal("sh -c convert not detected without an allowance")
	}
	r = mustRules(t, Allow{Server: "php-fpm*", Executable: "sh", CommandLine: `^sh -c convert /var/www/up/[a-z0-9.]+ /var/www/up/[a-z0-9.]+$`})
	if f, ok := r.Check(conv, []*proc.Process{fpm}); ok {
		t.Errorf("allowed convert alerted: %v", f)
	}
	if _, ok := r.Check(conv, []*proc.Process{apache}); !ok {
		t.Error("allowance for php-fpm applied under apache2")
	}
	// Allowing by full executable path.
	r = mustRules(t, Allow{Executable: "/usr/bin/whoami"})
	if _, ok := r.Check(p(15, "/usr/bin/whoami", "whoami"), []*proc.Process{apache}); ok {
		t.Error("whoami allowed by path still alerted")
	}
}

func TestNewRulesErrors(t *testing.T) {
	for _, a := range []Allow{{}, {Reason: "only a reason"}, {Server: "[x"}, {CommandLine: "("}} {
		if _, err := NewRules(0, []Allow{a}); !errors.Is(err, ErrInvalidAllow) || !strings.Contains(err.Error(), "entry 1") {
			t.Errorf("%+v: err %v", a, err)
		}
	}
	if r, err := NewRules(2, nil); err != nil || r.MaxDepth != 2 {
		t.Errorf("%+v %v", r, err)
	}
}
