package writer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webfim/proc"
)

// applyAll runs events through a tracker's bookkeeping, each access
// carrying a fake process named after its pid.
func applyAll(t *Tracker, evs ...event) {
	for _, ev := range evs {
		t.apply(ev, func(op Op) *Access {
			return &Access{PID: ev.pid, Process: &proc.Process{PID: ev.pid, Comm: fmt.Sprint("p", ev.pid)}, Op: op, Time: time.Unix(0, 0)}
		})
	}
}

func pidOf(a *Access) int32 {
	if a == nil {
		return 0
	}
	return a.PID
}

func TestApplyRecords(t *testing.T) {
	tr := &Tracker{recs: newRecords(100)}
	applyAll(tr,
		event{mask: maskCreate, pid: 10, path: "/w/a.php", newIn: true},
		event{mask: maskCloseWrite, pid: 10, path: "/w/a.php", newIn: true},
		event{mask: maskCloseWrite, pid: 11, path: "/w/a.php", newIn: true}, // an append by another process
		// rsync: a temporary name, then renamed over the target.
		event{mask: maskCreate, pid: 20, path: "/w/.b.php.XyZ", newIn: true},
		event{mask: maskCloseWrite, pid: 20, path: "/w/.b.php.XyZ", newIn: true},
		event{mask: maskRename, pid: 20, oldPath: "/w/.b.php.XyZ", oldIn: true, path: "/w/b.php", newIn: true},
		// moved in from outside the roots.
		event{mask: maskRename, pid: 30, path: "/w/c.php", newIn: true},
		// moved out of the roots, then another file deleted.
		event{mask: maskCreate, pid: 40, path: "/w/d.php", newIn: true},
		event{mask: maskRename, pid: 41, oldPath: "/w/d.php", oldIn: true},
		event{mask: maskDelete, pid: 50, path: "/w/a.php", newIn: true},
	)
	for _, tc := range []struct {
		path                      string
		created, written, removed int32
		createdOp                 Op
	}{
		{"/w/a.php", 10, 11, 50, OpCreate},
		{"/w/b.php", 20, 20, 0, OpRename},
		{"/w/.b.php.XyZ", 20, 20, 20, OpCreate},
		{"/w/c.php", 30, 30, 0, OpRename},
		{"/w/d.php", 40, 0, 41, OpCreate},
	} {
		rec, ok := tr.recs.get(tc.path)
		if !ok {
			t.Errorf("%s: no record", tc.path)
			continue
		}
		if pidOf(rec.Created) != tc.created || pidOf(rec.Written) != tc.written || pidOf(rec.Removed) != tc.removed || rec.Created.Op != tc.createdOp {
			t.Errorf("%s: created %d (%v) written %d removed %d; want %d (%v) %d %d", tc.path,
				pidOf(rec.Created), rec.Created.Op, pidOf(rec.Written), pidOf(rec.Removed), tc.created, tc.createdOp, tc.written, tc.removed)
		}
	}
	// A new file at a path starts a new record.
	applyAll(tr, event{mask: maskCreate, pid: 60, path: "/w/a.php", newIn: true})
	if rec, _ := tr.recs.get("/w/a.php"); pidOf(rec.Created) != 60 || rec.Written != nil || rec.Removed != nil {
		t.Errorf("re-created: %+v", rec)
	}
}

func TestRecordsBounded(t *testing.T) {
	tr := &Tracker{recs: newRecords(10)}
	for i := range 100 {
		applyAll(tr, event{mask: maskCreate, pid: int32(i), path: fmt.Sprintf("/w/%d", i), newIn: true})
	}
	if n := tr.recs.len(); n != 10 {
		t.Errorf("%d records, cap 10", n)
	}
	if _, ok := tr.recs.get("/w/99"); !ok {
		t.Error("the newest record was evicted")
	}
	if _, ok := tr.recs.get("/w/0"); ok {
		t.Error("the oldest record was kept")
	}
}

// fanEvent encodes one fanotify event with DFID_NAME records.
func fanEvent(mask uint64, pid int32, infos ...[]byte) []byte {
	var info []byte
	for _, i := range infos {
		info = append(info, i...)
	}
	b := make([]byte, metadataLen, metadataLen+len(info))
	le := binary.LittleEndian
	le.PutUint32(b, uint32(metadataLen+len(info)))
	b[4] = 3
	le.PutUint16(b[6:], metadataLen)
	le.PutUint64(b[8:], mask)
	le.PutUint32(b[16:], ^uint32(0)) // FAN_NOFD
	le.PutUint32(b[20:], uint32(pid))
	return append(b, info...)
}

func dfidName(typ byte, handle []byte, name string) []byte {
	body := make([]byte, 16, 16+len(handle)+len(name)+1)
	copy(body, "fsid1234")
	binary.LittleEndian.PutUint32(body[8:], uint32(len(handle)))
	binary.LittleEndian.PutUint32(body[12:], 1)
	body = append(body, handle...)
	body = append(append(body, name...), 0)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	h := []byte{typ, 0, 0, 0}
	binary.LittleEndian.PutUint16(h[2:], uint16(4+len(body)))
	return append(h, body...)
}

func TestParseEvents(t *testing.T) {
	buf := append(fanEvent(maskCreate, 42, dfidName(infoDFIDName, []byte("dirhandle"), "shell.php")),
		fanEvent(maskRename, 43, dfidName(infoOldDFIDName, []byte("h1"), "a"), dfidName(infoNewDFIDName, []byte("h2"), "b"))...)
	var got []rawEvent
	if err := parseEvents(buf, func(e rawEvent) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	if e := got[0]; e.pid != 42 || e.mask != maskCreate || e.dir == nil || string(e.dir.name) != "shell.php" || string(e.dir.handle) != "dirhandle" || string(e.dir.fsid[:]) != "fsid1234" || e.fd != -1 {
		t.Errorf("create: %+v %+v", e, e.dir)
	}
	if e := got[1]; e.old == nil || e.new == nil || string(e.old.name) != "a" || string(e.new.name) != "b" {
		t.Errorf("rename: %+v", e)
	}
	for _, bad := range [][]byte{
		make([]byte, 10),
		fanEvent(maskCreate, 1, []byte{2, 0, 200, 0}),
		fanEvent(maskCreate, 1, dfidName(infoDFIDName, make([]byte, 200), "x")),
		fanEvent(maskCreate, 1, dfidName(infoDFIDName, []byte("h"), "x"))[:30],
	} {
		if err := parseEvents(bad, func(rawEvent) {}); !errors.Is(err, errMalformed) {
			t.Errorf("%x: err %v, want errMalformed", bad, err)
		}
	}
}

func FuzzParseEvents(f *testing.F) {
	f.Add(fanEvent(maskCreate, 42, dfidName(infoDFIDName, []byte("dirhandle"), "shell.php")))
	f.Add(fanEvent(maskRename, 43, dfidName(infoOldDFIDName, []byte("h1"), "a"), dfidName(infoNewDFIDName, []byte("h2"), "b")))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parseEvents(b, func(e rawEvent) {
			for _, h := range []*handleName{e.dir, e.old, e.new} {
				if h != nil && (len(h.handle) > 128 || strings.IndexByte(string(h.name), 0) >= 0) {
					t.Errorf("handle %d bytes, name %q", len(h.handle), h.name)
				}
			}
		})
	})
}

func TestOverlayUpper(t *testing.T) {
	mi := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(mi, []byte(`22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
90 22 0:50 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work
91 22 0:51 / /srv/my\040site rw - overlay overlay rw,lowerdir=/l,upperdir=/u\040p,workdir=/w
92 22 0:52 / /ro rw - overlay overlay ro,lowerdir=/a:/b
93 90 0:53 / /var/lib/docker/overlay2/abc/merged/tmp rw - tmpfs tmpfs rw
`), 0o644)
	for _, tc := range []struct{ path, upper, mnt, err string }{
		{"/var/lib/docker/overlay2/abc/merged/var/www", "/var/lib/docker/overlay2/abc/diff", "/var/lib/docker/overlay2/abc/merged", ""},
		{"/srv/my site/htdocs", "/u p", "/srv/my site", ""},
		{"/ro/www", "", "", "no upperdir"},
		{"/var/www", "", "", "no overlay mount"},
		{"/var/lib/docker/overlay2/abc/merged/tmp/x", "", "", "no overlay mount"},
	} {
		upper, mnt, err := overlayUpper(mi, tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil || upper != tc.upper || mnt != tc.mnt {
			t.Errorf("%s: %q %q %v, want %q %q", tc.path, upper, mnt, err, tc.upper, tc.mnt)
		}
	}
}

func FuzzParseMountinfoLine(f *testing.F) {
	f.Add(`91 22 0:51 / /srv/my\040site rw - overlay overlay rw,lowerdir=/l,upperdir=/u\040p,workdir=/w`)
	f.Add(`36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`)
	f.Fuzz(func(t *testing.T, line string) {
		m, ok := parseMountinfoLine(line)
		if ok && m.fsType == "" {
			t.Errorf("%q: no fs type", line)
		}
	})
}

func TestStatusString(t *testing.T) {
	s := Status{Roots: []RootStatus{{Root: "/var/www"}, {Root: "/srv/ro", Err: fmt.Errorf("%w: no upperdir", ErrOverlay)}}}
	if !s.Available() || !strings.Contains(s.String(), "fanotify on 1 of 2 roots") || !strings.Contains(s.String(), "/srv/ro: overlayfs upper layer unreachable: no upperdir") {
		t.Errorf("%v: %q", s.Available(), s)
	}
	s = Status{Err: fmt.Errorf("fanotify_init: %w: needs CAP_SYS_ADMIN", ErrPermission)}
	if s.Available() || s.String() != "writer attribution unavailable: fanotify_init: permission denied: needs CAP_SYS_ADMIN" {
		t.Errorf("%q", s)
	}
}
