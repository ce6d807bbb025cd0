package proc

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	rest := " S 42 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"
	for _, tc := range []struct{ in, comm string }{
		{"7 (bash)" + rest, "bash"},
		{"7 (a) b (c))" + rest, "a) b (c)"}, // comm is attacker-chosen: ends at the last ')'
		{"7 ()" + rest, ""},
		{"7 (with space)" + rest, "with space"},
	} {
		s, err := parseStat([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if s.Comm != tc.comm || s.PPID != 42 || s.Start != 987654 {
			t.Errorf("%q: %+v", tc.in, s)
		}
	}
	for _, bad := range []string{"", "7 bash S 1", "7 (x) S 1 2", "7 (x) S ppid" + rest[8:], "7 (x" + rest} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, errMalformed) {
			t.Errorf("%q: err %v, want errMalformed", bad, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	in := "Name:\tphp\\\\x\\nz\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t9\nPPid:\t8\nUid:\t33\t0\t33\t33\nGid:\t33\t33\t33\t33\n"
	s, err := parseStatus([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "php\\x\nz" || s.PPID != 8 || s.UID != 33 || s.EUID != 0 || !s.HasUID {
		t.Errorf("%+v", s)
	}
	for _, bad := range []string{"Name:\tx\n", "PPid:\tx\n", "PPid:\t1\nUid:\t1\n", "PPid:\t1\nUid:\ta b c d\n"} {
		if _, err := parseStatus([]byte(bad)); !errors.Is(err, errMalformed) {
			t.Errorf("%q: err %v, want errMalformed", bad, err)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("7 (a) b) S 42 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"))
	f.Add([]byte("1 (systemd) S 0 1 1 0 -1 4194560 2000 0 0 0 1 2 0 0 20 0 1 0 1 1000 10"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err == nil && !strings.Contains(string(b), "("+s.Comm+")") {
			t.Errorf("comm %q not between parentheses in %q", s.Comm, b)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tsh\nPPid:\t1\nUid:\t0\t0\t0\t0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := parseStatus(b); err == nil && s.HasUID && !strings.Contains(string(b), "Uid:") {
			t.Errorf("uid without a Uid line: %+v", s)
		}
	})
}

// execRecord builds an exec record as the eBPF program writes it.
func execRecord(pid, ppid, uid uint32, startNs uint64, comm, file string, args []byte, argsLen uint32, errs uint32) []byte {
	b := make([]byte, recExecSize)
	le := binary.LittleEndian
	le.PutUint32(b[recOffKind:], recExec)
	le.PutUint32(b[recOffTGID:], pid)
	le.PutUint32(b[recOffPPID:], ppid)
	le.PutUint32(b[recOffUID:], uid)
	le.PutUint32(b[recOffEUID:], uid)
	le.PutUint32(b[recOffFileLen:], uint32(len(file)+1))
	le.PutUint32(b[recOffArgsLen:], argsLen)
	le.PutUint32(b[recOffErrs:], errs)
	le.PutUint64(b[recOffStart:], startNs)
	copy(b[recOffComm:], comm)
	copy(b[recOffFile:], file)
	copy(b[recOffArgs:], args)
	return b
}

func TestDecodeRecord(t *testing.T) {
	args := []byte("sh\x00-c\x00echo x > f\x00")
	r, err := decodeRecord(execRecord(10, 9, 33, 12_345_000_000, "sh", "/bin/sh", args, uint32(len(args)), 0))
	if err != nil {
		t.Fatal(err)
	}
	if r.TGID != 10 || r.PPID != 9 || r.UID != 33 || ticks(r.StartNs) != 1234 || r.Comm != "sh" || r.File != "/bin/sh" ||
		!slices.Equal(r.Args, []string{"sh", "-c", "echo x > f"}) || r.ArgsCut {
		t.Errorf("%+v", r)
	}
	// Arguments longer than the record: cut, and said so.
	long := []byte(strings.Repeat("y", recArgsMax))
	r, _ = decodeRecord(execRecord(10, 9, 0, 0, "x", "/x", long, 5000, 0))
	if !r.ArgsCut || len(strings.Join(r.Args, " ")) > MaxArgsBytes {
		t.Errorf("long args: cut %v, %d bytes", r.ArgsCut, len(strings.Join(r.Args, " ")))
	}
	// A failed argument read leaves no args.
	r, _ = decodeRecord(execRecord(10, 9, 0, 0, "x", "/x", args, uint32(len(args)), recErrArgs))
	if r.Args != nil {
		t.Errorf("args %q despite the read error", r.Args)
	}
	for _, bad := range [][]byte{nil, make([]byte, 39), execRecord(1, 1, 1, 1, "", "", nil, 0, 0)[:100]} {
		if _, err := decodeRecord(bad); !errors.Is(err, errMalformed) {
			t.Errorf("%d bytes: err %v", len(bad), err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	args := []byte("sh\x00-c\x00id\x00")
	f.Add(execRecord(10, 9, 33, 1, "sh", "/bin/sh", args, uint32(len(args)), 0))
	f.Add(make([]byte, recShortSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if n := len(strings.Join(r.Args, " ")); n > MaxArgsBytes+1 {
			t.Errorf("args of %d bytes", n)
		}
		if len(r.File) > recFileMax || len(r.Comm) > 16 {
			t.Errorf("file %d comm %d bytes", len(r.File), len(r.Comm))
		}
	})
}

// connectorMsg builds one process connector datagram message.
func connectorMsg(what uint32, data ...uint32) []byte {
	le := binary.LittleEndian
	n := nlmsgHeaderLen + cnMsgHeaderLen + cnEventDataOff + 4*len(data)
	b := make([]byte, n)
	le.PutUint32(b, uint32(n))
	le.PutUint32(b[16:], cnIdxProc)
	le.PutUint32(b[20:], cnValProc)
	ev := b[nlmsgHeaderLen+cnMsgHeaderLen:]
	le.PutUint32(ev, what)
	le.PutUint64(ev[8:], 777)
	for i, d := range data {
		le.PutUint32(ev[cnEventDataOff+4*i:], d)
	}
	return b
}

func TestDecodeConnector(t *testing.T) {
	var dgram []byte
	dgram = append(dgram, connectorMsg(cnEventFork, 5, 5, 6, 6)...)
	dgram = append(dgram, connectorMsg(cnEventExec, 6, 6)...)
	dgram = append(dgram, connectorMsg(cnEventUID, 6, 6, 33, 0)...)
	dgram = append(dgram, connectorMsg(0x200, 6, 6, 1, 2, 3, 4)...) // comm: skipped
	dgram = append(dgram, connectorMsg(cnEventExit, 6, 6, 0, 17, 5, 5)...)
	dgram = append(dgram, connectorMsg(cnEventNone, 1)...)
	var got []cnEvent
	if err := decodeConnector(dgram, func(e cnEvent) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	want := []cnEvent{
		{What: cnEventFork, TsNs: 777, PID: 6, TGID: 6, ParentTGID: 5},
		{What: cnEventExec, TsNs: 777, PID: 6, TGID: 6},
		{What: cnEventUID, TsNs: 777, PID: 6, TGID: 6, UID: 33},
		{What: cnEventExit, TsNs: 777, PID: 6, TGID: 6},
		{What: cnEventNone, TsNs: 777, AckErr: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	short := connectorMsg(cnEventFork, 5, 5)
	if err := decodeConnector(short, func(cnEvent) {}); !errors.Is(err, errMalformed) {
		t.Errorf("short fork: %v", err)
	}
	bad := connectorMsg(cnEventExec, 1, 1)
	binary.LittleEndian.PutUint32(bad, 4096)
	if err := decodeConnector(bad, func(cnEvent) {}); !errors.Is(err, errMalformed) {
		t.Errorf("length past the datagram: %v", err)
	}
}

func FuzzDecodeConnector(f *testing.F) {
	f.Add(connectorMsg(cnEventFork, 5, 5, 6, 6))
	f.Add(append(connectorMsg(cnEventExec, 6, 6), connectorMsg(cnEventExit, 6, 6, 0, 0, 5, 5)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = decodeConnector(b, func(cnEvent) {})
	})
}
