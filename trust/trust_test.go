package trust

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"webfim/baseline"
	"webfim/merkle"
	"webfim/serverconf"
)

func sampleRecord(i int) baseline.Record {
	r := baseline.Record{
		Root: "/srv/www", Path: fmt.Sprintf("d%03d/f%05d.php", i/100, i), Type: baseline.TypeFile, Mode: 0o644,
		Size: int64(i), UID: 33, GID: 33, Mtime: 1764300000e9 + int64(i), Ctime: 1764300000e9, Inode: uint64(1000 + i), Dev: 2049,
		BLAKE3: bytes.Repeat([]byte{byte(i)}, 32),
	}
	if i%3 == 0 {
		r.SHA256 = bytes.Repeat([]byte{byte(i + 1)}, 32)
	}
	return r
}

func TestRecordLeafRoundTrip(t *testing.T) {
	recs := []baseline.Record{
		sampleRecord(1),
		{Root: "/r", Path: "", Type: baseline.TypeDir, Mode: 0o755 | 1<<31},
		{Root: "/r", Path: "l", Type: baseline.TypeSymlink, Target: "../\xff\n", Mtime: -5},
		{Root: "/r", Path: "e", Type: baseline.TypeFile, Err: "permission denied", BLAKE3: []byte{}, Unstable: true},
		{Root: "/r", Path: "huge.bin", Type: baseline.TypeFile, Size: 100 << 30, BLAKE3: bytes.Repeat([]byte{7}, 32), Sampled: true},
	}
	for _, r := range recs {
		data := AppendRecordLeaf(nil, &r)
		got := baseline.Record{Root: r.Root}
		if err := ParseRecordLeaf(data, &got); err != nil {
			t.Fatalf("%q: %v", r.Path, err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("%q: round trip (-want +got):\n%s", r.Path, diff)
		}
		for n := range len(data) {
			if err := ParseRecordLeaf(data[:n], &got); !errors.Is(err, ErrBadLeaf) {
				t.Fatalf("%q truncated to %d bytes: %v", r.Path, n, err)
			}
		}
	}
}

// The leaf encoding is a public format (docs/trust.md): pin it.
func TestRecordLeafLayout(t *testing.T) {
	r := baseline.Record{Path: "a", Type: baseline.TypeFile, Mode: 0o644, Size: 2, UID: 3, GID: 4, Mtime: 5, Ctime: 6, Inode: 7, Dev: 8, BLAKE3: []byte{0xaa}}
	want := "52" + "00000001" + "61" + "01" + "000001a4" + "0000000000000002" + "00000003" + "00000004" +
		"0000000000000005" + "0000000000000006" + "0000000000000007" + "0000000000000008" + "02" +
		"00000001aa" + "00000000" + "00000000" + "00000000"
	if got := fmt.Sprintf("%x", AppendRecordLeaf(nil, &r)); got != want {
		t.Fatalf("leaf\n got %s\nwant %s", got, want)
	}
}

func FuzzParseRecordLeaf(f *testing.F) {
	r := sampleRecord(3)
	f.Add(AppendRecordLeaf(nil, &r))
	f.Add([]byte("R\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got baseline.Record
		if err := ParseRecordLeaf(data, &got); err != nil {
			return
		}
		if again := AppendRecordLeaf(nil, &got); !bytes.Equal(again, data) {
			t.Fatalf("accepted leaf does not re-encode to itself:\n%x\n%x", data, again)
		}
	})
}

func sampleStatement() Statement {
	return Statement{
		Sequence: 7, Created: time.Date(2026, 11, 28, 10, 11, 12, 123000000, time.UTC), Host: "web01", Label: "v2.3.1",
		Version: "0.1.0", Sysroot: "/mnt/img \"x\"\\\xff", Full: true,
		Counts:  Counts{Files: 3, Dirs: 2, Bytes: 34},
		Configs: []string{"apache:/etc/apache2/apache2.conf", "/etc/php/8.2/fpm/php.ini"},
		Review: &Review{By: "ci", Reason: "release \"2.3.1\"",
			Accepted: []ReviewedFinding{{ID: "0123456789abcdef", Rule: "webfim-002", Severity: "high", Subject: "/srv/a/new.php"}},
			Held:     []ReviewedFinding{{ID: "fedcba9876543210", Rule: "webfim-001", Severity: "high", Subject: "/srv/a/up/\xff.php"}},
		},
		Inventory: TreeHead{Leaves: 2, Root: merkle.LeafHash([]byte("i"))},
		Roots: []RootHead{
			{Path: "/srv/a", TreeHead: TreeHead{Leaves: 5, Root: merkle.LeafHash([]byte("a"))}},
			{Path: "/srv/b\n", TreeHead: TreeHead{Root: merkle.EmptyRoot}},
		},
	}
}

// sampleV1Text is sampleStatement in version 1, as webfim wrote it before
// reviews were signed: no review lines.
func sampleV1Text() string {
	return `webfim-baseline-statement v1
sequence 7
created 2026-11-28T10:11:12.123000000Z
host "web01"
label "v2.3.1"
version "0.1.0"
sysroot "/mnt/img \"x\"\\\xff"
full true
hash-all-sha256 false
counts files 3 dirs 2 symlinks 0 others 0 errors 0 unstable 0 bytes 34
config "apache:/etc/apache2/apache2.conf"
config "/etc/php/8.2/fpm/php.ini"
inventory 2 ` + merkle.LeafHash([]byte("i")).String() + `
root "/srv/a" 5 ` + merkle.LeafHash([]byte("a")).String() + `
root "/srv/b\x0a" 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
`
}

// A version 1 statement (signed before reviews were) still parses, keeps
// its version and its digest, and is compared without the review.
func TestStatementV1(t *testing.T) {
	text := sampleV1Text()
	st, err := ParseStatement([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !st.V1 || st.Review != nil || string(st.MarshalText()) != text {
		t.Fatalf("v1 statement: V1 %v review %v, re-encoded:\n%s", st.V1, st.Review, st.MarshalText())
	}
	current := sampleStatement() // with a review the v1 statement never signed
	if mm := Compare(st, &current); len(mm) != 0 {
		t.Fatalf("v1 reference compared the review: %v", mm)
	}
	// The same statement claiming version 2 has no review: that differs.
	v2 := *st
	v2.V1 = false
	mm := Compare(&v2, &current)
	if len(mm) != 1 || mm[0].Field != "review" || !strings.Contains(mm[0].String(), `signed none, now by "ci"`) {
		t.Fatalf("v2 without review vs with: %v", mm)
	}
	// A v1 text with review lines is not canonical.
	bad := strings.Replace(text, "inventory", `review "ci" ""`+"\ninventory", 1)
	if _, err := ParseStatement([]byte(bad)); !errors.Is(err, ErrBadStatement) {
		t.Fatalf("v1 with a review line: %v", err)
	}
}

// Every change to a signed review is a mismatch named "review".
func TestCompareReview(t *testing.T) {
	signed := sampleStatement()
	for name, edit := range map[string]func(*Review){
		"by":       func(r *Review) { r.By = "mallory" },
		"reason":   func(r *Review) { r.Reason = "" },
		"accepted": func(r *Review) { r.Accepted[0].Subject = "/srv/a/shell.php" },
		"held":     func(r *Review) { r.Held = nil },
		"moved":    func(r *Review) { r.Accepted = append(r.Accepted, r.Held...); r.Held = nil },
	} {
		current := sampleStatement()
		edit(current.Review)
		mm := Compare(&signed, &current)
		if len(mm) != 1 || mm[0].Field != "review" {
			t.Errorf("%s: mismatches %v", name, mm)
		}
	}
	current := sampleStatement()
	current.Review = nil
	if mm := Compare(&signed, &current); len(mm) != 1 || !strings.Contains(mm[0].String(), "now none") {
		t.Errorf("review dropped: %v", mm)
	}
}

func TestStatementText(t *testing.T) {
	s := sampleStatement()
	text := s.MarshalText()
	want := `webfim-baseline-statement v2
sequence 7
created 2026-11-28T10:11:12.123000000Z
host "web01"
label "v2.3.1"
version "0.1.0"
sysroot "/mnt/img \"x\"\\\xff"
full true
hash-all-sha256 false
counts files 3 dirs 2 symlinks 0 others 0 errors 0 unstable 0 bytes 34
config "apache:/etc/apache2/apache2.conf"
config "/etc/php/8.2/fpm/php.ini"
review "ci" "release \"2.3.1\""
accepted "0123456789abcdef" "webfim-002" "high" "/srv/a/new.php"
held "fedcba9876543210" "webfim-001" "high" "/srv/a/up/\xff.php"
inventory 2 ` + merkle.LeafHash([]byte("i")).String() + `
root "/srv/a" 5 ` + merkle.LeafHash([]byte("a")).String() + `
root "/srv/b\x0a" 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
`
	if string(text) != want {
		t.Fatalf("statement:\n%s\nwant:\n%s", text, want)
	}
	got, err := ParseStatement(text)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&s, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		strings.Replace(want, "sequence 7", "sequence 07", 1),
		strings.Replace(want, `\x0a`, `\x0A`, 1),
		strings.Replace(want, "full true", "full yes", 1),
		strings.Replace(want, "v2\n", "v3\n", 1),
		strings.Replace(want, `held "fedcba9876543210" "webfim-001" "high"`, `held "fedcba9876543210" "webfim-001"  "high"`, 1),
		strings.Replace(want, `review "ci" "release \"2.3.1\""`, `review "ci"`, 1),
		strings.Replace(want, "review", "accepted", 1),
		strings.Replace(want, `root "/srv/a"`, `root "/srv/c"`, 1), // out of order
		want[:len(want)-1],
		want[:len(want)/2] + "\n",
		want + "extra 1\n",
	} {
		if _, err := ParseStatement([]byte(bad)); !errors.Is(err, ErrBadStatement) {
			t.Errorf("accepted or wrong error %v for:\n%s", err, bad)
		}
	}
}

func FuzzParseStatement(f *testing.F) {
	s := sampleStatement()
	f.Add(s.MarshalText())
	f.Add([]byte(StatementHeader + "\n"))
	f.Add([]byte(sampleV1Text()))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatement(data)
		if err != nil {
			return
		}
		if !bytes.Equal(st.MarshalText(), data) {
			t.Fatal("accepted statement is not canonical")
		}
	})
}

func TestCompareNamesFields(t *testing.T) {
	a := sampleStatement()
	b := sampleStatement()
	b.Label = "evil"
	b.Counts.Files = 4
	b.Roots[0].Root = merkle.LeafHash([]byte("x"))
	b.Roots = append(b.Roots, RootHead{Path: "/srv/z", TreeHead: TreeHead{Root: merkle.EmptyRoot}})
	b.Sequence = 99 // not compared
	var got []string
	for _, m := range Compare(&a, &b) {
		got = append(got, m.Field+" "+m.Root)
	}
	want := []string{"label ", "counts.files ", "root /srv/a", "root /srv/z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("mismatches (-want +got):\n%s", diff)
	}
	if m := Compare(&a, &b)[0].String(); m != `metadata field label: signed "v2.3.1", now "evil"` {
		t.Errorf("message %q", m)
	}
	if len(Compare(&a, &a)) != 0 {
		t.Error("a statement differs from itself")
	}
}

// build runs a builder over records and returns its statement and index.
func build(t *testing.T, recs []baseline.Record, items []serverconf.Item) (Statement, *Index) {
	t.Helper()
	b := NewBuilder()
	for i := range recs {
		if err := b.AddRecord(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range items {
		if err := b.AddItem(&items[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Finish(Statement{Roots: []RootHead{{Path: "/srv/www"}, {Path: "/srv/empty"}}})
}

func records(n int) []baseline.Record {
	out := make([]baseline.Record, n)
	for i := range out {
		out[i] = sampleRecord(i)
	}
	return out
}

func TestBuilderMatchesTree(t *testing.T) {
	recs := records(200)
	items := []serverconf.Item{{Server: "apache", Kind: "load_module", Name: "php_module", Source: "/etc/apache2/mods-enabled/php.load"}}
	st, ix := build(t, recs, items)
	tree := merkle.New(0, nil)
	for i := range recs {
		tree.Add(AppendRecordLeaf(nil, &recs[i]))
	}
	www, ok := st.Root("/srv/www")
	if !ok || www.Leaves != 200 || www.Root != tree.Root() {
		t.Fatalf("root head %+v, want 200 leaves, %s", www, tree.Root())
	}
	if e, ok := st.Root("/srv/empty"); !ok || e.Leaves != 0 || e.Root != merkle.EmptyRoot {
		t.Fatalf("empty root head %+v", e)
	}
	if st.Inventory.Leaves != 1 {
		t.Fatalf("inventory %+v", st.Inventory)
	}
	chunks := ix.Roots["/srv/www"]
	if len(chunks) != 4 || chunks[3].Records() != 200-3*ChunkRecords {
		t.Fatalf("%d chunks", len(chunks))
	}
	if err := authenticate(www.TreeHead, chunks); err != nil {
		t.Fatal("the index does not rebuild the root")
	}
	for _, c := range chunks {
		data, _ := c.MarshalBinary()
		back, err := ParseChunk(data)
		if err != nil || back.Hash != c.Hash || !bytes.Equal(back.Hints, c.Hints) {
			t.Fatalf("chunk round trip: %v", err)
		}
	}
	b := NewBuilder()
	b.AddRecord(&baseline.Record{Root: "/b"})
	if err := b.AddRecord(&baseline.Record{Root: "/a"}); err == nil {
		t.Error("roots out of order accepted")
	}
}

func TestLocate(t *testing.T) {
	orig := records(300)
	signed, stored := build(t, orig, nil)
	head, _ := signed.Root("/srv/www")
	locate := func(recs []baseline.Record) Location {
		_, cur := build(t, recs, nil)
		return Locate(head.TreeHead, stored.Roots["/srv/www"], cur.Roots["/srv/www"])
	}
	clone := func() []baseline.Record { return append([]baseline.Record(nil), orig...) }

	changed := clone()
	changed[130].BLAKE3 = bytes.Repeat([]byte{0xee}, 32)
	changed[131].Mode = 0o4755
	if l := locate(changed); !cmp.Equal(l.Findings, []Finding{{RecordChanged, 130}, {RecordChanged, 131}}) {
		t.Errorf("changed: %+v", l)
	}
	dropped := append(clone()[:70], orig[71:]...)
	if l := locate(dropped); !cmp.Equal(l.Findings, []Finding{{RecordRemoved, 70}}) {
		t.Errorf("dropped: %+v", l)
	}
	added := clone()
	extra := sampleRecord(5)
	extra.Path = "d000/f00005.php.bak"
	added = append(added[:6], append([]baseline.Record{extra}, added[6:]...)...)
	if l := locate(added); !cmp.Equal(l.Findings, []Finding{{RecordAdded, 6}}) {
		t.Errorf("added: %+v", l)
	}
	// The index was rewritten to match tampered records: it no longer
	// rebuilds the signed root, and says so instead of naming anything.
	_, forged := build(t, changed, nil)
	if l := Locate(head.TreeHead, forged.Roots["/srv/www"], forged.Roots["/srv/www"]); !l.IndexAltered {
		t.Errorf("forged index: %+v", l)
	}
	// Forged hints with authentic chunk hashes: the chunk is still named.
	hinted := make([]Chunk, len(stored.Roots["/srv/www"]))
	copy(hinted, stored.Roots["/srv/www"])
	_, cur := build(t, changed, nil)
	hinted[2] = Chunk{Hash: hinted[2].Hash, Hints: cur.Roots["/srv/www"][2].Hints}
	if l := Locate(head.TreeHead, hinted, cur.Roots["/srv/www"]); len(l.Findings) != 0 || !cmp.Equal(l.Ranges, []Range{{128, 192}}) {
		t.Errorf("forged hints: %+v", l)
	}
	if l := locate(clone()); len(l.Findings)+len(l.Ranges) != 0 || l.IndexAltered {
		t.Errorf("unchanged: %+v", l)
	}
}

// testKey generates a key pair in dir and returns the private key file.
func testKey(t *testing.T, dir, comment string, passphrase []byte) string {
	t.Helper()
	priv, pub, err := GenerateKey(comment, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, comment)
	if err := os.WriteFile(p, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".pub", pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	keyFile := testKey(t, dir, "ci", nil)
	signer, pub, err := LoadSigner(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sampleStatement()
	text := s.MarshalText()
	armored, err := Sign(text, signer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(armored, []byte("-----BEGIN SSH SIGNATURE-----\n")) {
		t.Fatalf("not an armored SSH signature:\n%s", armored)
	}
	var ring KeyRing
	v, err := ring.Verify(Signature{text, armored})
	if err != nil || v.Trusted != nil {
		t.Fatalf("untrusted key: %+v, %v", v, err)
	}
	if err := ring.AddFile(keyFile + ".pub"); err != nil {
		t.Fatal(err)
	}
	v, err = ring.Verify(Signature{text, armored})
	if err != nil || v.Trusted == nil || v.Statement.Label != "v2.3.1" {
		t.Fatalf("trusted key: %+v, %v", v, err)
	}
	if !strings.HasPrefix(v.Signer(), "ED25519 SHA256:") || !strings.HasSuffix(v.Signer(), "(ci)") {
		t.Errorf("signer %q", v.Signer())
	}
	if ssh.FingerprintSHA256(v.Key) != ssh.FingerprintSHA256(pub) {
		t.Error("wrong key")
	}
	other := s
	other.Label = "evil"
	if _, err := ring.Verify(Signature{other.MarshalText(), armored}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signature over another statement: %v", err)
	}
	damaged := bytes.Replace(armored, []byte("A"), []byte("B"), 3)
	if _, err := ring.Verify(Signature{text, damaged}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("damaged signature: %v", err)
	}
	if _, err := Sign([]byte("not a statement\n"), signer); err == nil {
		t.Error("signed something that is not a statement")
	}
}

func TestEncryptedKey(t *testing.T) {
	dir := t.TempDir()
	keyFile := testKey(t, dir, "enc", []byte("s3cret"))
	if _, _, err := LoadSigner(keyFile, nil); err == nil {
		t.Fatal("encrypted key loaded without a passphrase")
	}
	if _, _, err := LoadSigner(keyFile, func() ([]byte, error) { return []byte("wrong"), nil }); err == nil {
		t.Fatal("encrypted key loaded with a wrong passphrase")
	}
	if _, _, err := LoadSigner(keyFile, func() ([]byte, error) { return []byte("s3cret"), nil }); err != nil {
		t.Fatal(err)
	}
	_, pub, err := LoadSigner(keyFile+".pub", nil)
	if !errors.Is(err, ErrPublicKeyFile) || pub == nil {
		t.Fatalf("public key file: %v", err)
	}
}

func TestRejectsOtherKeyTypes(t *testing.T) {
	if _, err := ParseTrustedKey("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= x"); !errors.Is(err, ErrKeyType) {
		t.Errorf("ECDSA key trusted: %v", err)
	}
	if _, err := ParseTrustedKey("not a key"); err == nil {
		t.Error("garbage trusted")
	}
}

// TestAgentSigner signs through a real agent protocol session (the
// keyring agent of x/crypto, served on a Unix socket).
func TestAgentSigner(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix sockets")
	}
	dir := t.TempDir()
	keyFile := testKey(t, dir, "agentkey", nil)
	data, _ := os.ReadFile(keyFile)
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw, Comment: "agentkey"}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	signer, closer, err := AgentSigner(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sampleStatement()
	armored, err := Sign(s.MarshalText(), signer)
	closer.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ring KeyRing
	if err := ring.AddFile(keyFile + ".pub"); err != nil {
		t.Fatal(err)
	}
	if v, err := ring.Verify(Signature{s.MarshalText(), armored}); err != nil || v.Trusted == nil {
		t.Fatalf("agent signature: %+v %v", v, err)
	}
	_, pub, _ := LoadSigner(keyFile+".pub", nil)
	if _, c, err := AgentSigner(sock, pub); err != nil {
		t.Fatalf("agent with the wanted key: %v", err)
	} else {
		c.Close()
	}
	otherFile := testKey(t, dir, "other", nil)
	_, otherPub, _ := LoadSigner(otherFile+".pub", nil)
	if _, _, err := AgentSigner(sock, otherPub); err == nil || !strings.Contains(err.Error(), "does not hold the key") {
		t.Fatalf("agent without the key: %v", err)
	}
	if _, _, err := AgentSigner("", nil); err == nil {
		t.Fatal("no agent socket accepted")
	}
}

// TestSSHKeygenVerifies checks the signatures with OpenSSH's own
// verifier, ssh-keygen -Y verify, and that webfim verifies what
// ssh-keygen -Y sign makes.
func TestSSHKeygenVerifies(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
			t.Fatal("ssh-keygen not installed, and WEBFIM_REQUIRE_INTEGRATION is set (.ci/run installs it: apt-get install -y openssh-client)")
		}
		t.Skip("ssh-keygen not installed (CI installs it: apt-get install -y openssh-client)")
	}
	dir := t.TempDir()
	keyFile := testKey(t, dir, "ci", nil)
	signer, _, err := LoadSigner(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sampleStatement()
	text := s.MarshalText()
	armored, err := Sign(text, signer)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile(keyFile + ".pub")
	allowed := filepath.Join(dir, "allowed_signers")
	os.WriteFile(allowed, append([]byte("ci@example "), pub...), 0o644)
	sigFile := filepath.Join(dir, "stmt.sig")
	os.WriteFile(sigFile, armored, 0o644)
	verify := func(msg []byte) error {
		cmd := exec.Command(keygen, "-Y", "verify", "-f", allowed, "-I", "ci@example", "-n", Namespace, "-s", sigFile)
		cmd.Stdin = bytes.NewReader(msg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := verify(text); err != nil {
		t.Fatalf("ssh-keygen -Y verify rejects webfim's signature: %v", err)
	}
	if err := verify(append(text, '\n')); err == nil {
		t.Fatal("ssh-keygen -Y verify accepts a changed statement")
	}
	// The other way: ssh-keygen signs, webfim verifies.
	stmtFile := filepath.Join(dir, "stmt")
	os.WriteFile(stmtFile, text, 0o644)
	if out, err := exec.Command(keygen, "-Y", "sign", "-f", keyFile, "-n", Namespace, stmtFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v: %s", err, out)
	}
	theirs, err := os.ReadFile(stmtFile + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	var ring KeyRing
	ring.AddFile(keyFile + ".pub")
	if v, err := ring.Verify(Signature{text, theirs}); err != nil || v.Trusted == nil {
		t.Fatalf("webfim rejects ssh-keygen's signature: %+v %v", v, err)
	}
}
