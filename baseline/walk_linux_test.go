package baseline

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWalkStaysOnDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := t.TempDir()
	write(t, root+"/here", "1")
	if err := os.Mkdir(root+"/mnt", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", root+"/mnt", "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs (container without CAP_SYS_ADMIN?): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(root+"/mnt", syscall.MNT_DETACH) })
	write(t, root+"/mnt/there", "2")
	recs := collect(t, Walk(context.Background(), []string{root}, Options{}))
	if diff := cmp.Diff([]string{"", "here", "mnt"}, paths(recs)); diff != "" {
		t.Errorf("default: mount point must be recorded, not entered (-want +got):\n%s", diff)
	}
	if m := byPath(recs); m["mnt"].Dev == m[""].Dev {
		t.Errorf("mount point has the root's device %d", m[""].Dev)
	}
	recs = collect(t, Walk(context.Background(), []string{root}, Options{CrossDevice: true}))
	if diff := cmp.Diff([]string{"", "here", "mnt", "mnt/there"}, paths(recs)); diff != "" {
		t.Errorf("CrossDevice (-want +got):\n%s", diff)
	}
}
