package trust

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Namespace is the SSH signature namespace of baseline signatures: a
// signature made for git commits or for files ("git", "file") is never
// taken for a baseline signature, nor the other way round.
const Namespace = "webfim-baseline"

// hashAlgorithm is the message hash of the signatures (ssh-keygen's
// default).
const hashAlgorithm = sshsig.HashSHA512

// Errors of signing and verification, wrapped with details.
var (
	// ErrBadSignature: a signature is damaged, made for another message
	// or namespace, or does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrKeyType: a key is not an Ed25519 key (plain or FIDO).
	ErrKeyType = errors.New("unsupported key type")
	// ErrPublicKeyFile: a key file holds a public key, whose private half
	// is expected in ssh-agent.
	ErrPublicKeyFile = errors.New("key file holds a public key")
)

// keyTypeAllowed reports whether webfim signs and trusts keys of type t:
// Ed25519, in a file or agent, and Ed25519 on a FIDO token (the
// "sk-" type of `ssh-keygen -t ed25519-sk`).
func keyTypeAllowed(t string) bool {
	return t == ssh.KeyAlgoED25519 || t == ssh.KeyAlgoSKED25519
}

// Signature is a signed statement as webfim keeps it: the statement text
// and an armored SSH signature of it ("-----BEGIN SSH SIGNATURE-----", the
// output of `ssh-keygen -Y sign -n webfim-baseline`).
type Signature struct {
	Statement []byte `json:"statement"`
	Armored   []byte `json:"signature"`
}

// Sign signs a statement's text with signer.
func Sign(statement []byte, signer ssh.Signer) ([]byte, error) {
	if t := signer.PublicKey().Type(); !keyTypeAllowed(t) {
		return nil, fmt.Errorf("%w %s: webfim signs with Ed25519 keys (ssh-keygen -t ed25519 or -t ed25519-sk)", ErrKeyType, t)
	}
	if _, err := ParseStatement(statement); err != nil {
		return nil, fmt.Errorf("refusing to sign: %w", err)
	}
	sig, err := sshsig.Sign(bytes.NewReader(statement), signer, hashAlgorithm, Namespace)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sshsig.Armor(sig), nil
}

// SignerKey parses the public key of an armored signature, without
// verifying anything.
func SignerKey(armored []byte) (ssh.PublicKey, error) {
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return sig.PublicKey, nil
}

// TrustedKey is a public key trusted to sign baselines.
type TrustedKey struct {
	Key     ssh.PublicKey
	Comment string
}

func (k TrustedKey) String() string { return DescribeKey(k.Key, k.Comment) }

// DescribeKey names a key as ssh-keygen -l does: type, fingerprint and
// comment.
func DescribeKey(k ssh.PublicKey, comment string) string {
	t := strings.ToUpper(strings.TrimPrefix(k.Type(), "ssh-"))
	if k.Type() == ssh.KeyAlgoSKED25519 {
		t = "ED25519-SK"
	}
	s := t + " " + ssh.FingerprintSHA256(k)
	if comment != "" {
		s += " (" + comment + ")"
	}
	return s
}

// KeyRing is the set of trusted keys.
type KeyRing struct{ keys []TrustedKey }

// Len returns the number of trusted keys.
func (r *KeyRing) Len() int {
	if r == nil {
		return 0
	}
	return len(r.keys)
}

// Keys returns the trusted keys.
func (r *KeyRing) Keys() []TrustedKey {
	if r == nil {
		return nil
	}
	return r.keys
}

// ParseTrustedKey reads one key in authorized_keys format ("ssh-ed25519
// AAAA... comment", as in a .pub file).
func ParseTrustedKey(line string) (TrustedKey, error) {
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return TrustedKey{}, fmt.Errorf("not an SSH public key (want \"ssh-ed25519 AAAA... comment\", the content of a .pub file): %v", err)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return TrustedKey{}, errors.New("more than one key")
	}
	if !keyTypeAllowed(pub.Type()) {
		return TrustedKey{}, fmt.Errorf("%w %s: webfim trusts Ed25519 keys (ssh-ed25519, sk-ssh-ed25519@openssh.com)", ErrKeyType, pub.Type())
	}
	return TrustedKey{Key: pub, Comment: comment}, nil
}

// Add adds a trusted key (a key already there is not added twice).
func (r *KeyRing) Add(k TrustedKey) {
	if r.Find(k.Key) == nil {
		r.keys = append(r.keys, k)
	}
}

// AddFile adds the keys of a file with one key per line, like a .pub
// file or authorized_keys (empty lines and # comments are skipped). An
// error names the file and line.
func (r *KeyRing) AddFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("trusted key file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	n, found := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseTrustedKey(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		r.Add(k)
		found++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if found == 0 {
		return fmt.Errorf("%s: no public key in the file", path)
	}
	return nil
}

// Find returns the trusted key k, nil if k is not in the ring.
func (r *KeyRing) Find(k ssh.PublicKey) *TrustedKey {
	if r == nil {
		return nil
	}
	for i := range r.keys {
		if bytes.Equal(r.keys[i].Key.Marshal(), k.Marshal()) {
			return &r.keys[i]
		}
	}
	return nil
}

// Verified is a signature that verifies.
type Verified struct {
	Key ssh.PublicKey
	// Trusted is the trusted key that made it, nil if the key is not
	// trusted.
	Trusted   *TrustedKey
	Statement *Statement
}

// Signer describes the key that made the signature.
func (v Verified) Signer() string {
	if v.Trusted != nil {
		return v.Trusted.String()
	}
	return DescribeKey(v.Key, "")
}

// Verify checks a signature over its statement. A signature that
// verifies with a key that is not in the ring is returned with Trusted
// nil (the caller decides); one that does not verify is an error wrapping
// [ErrBadSignature].
func (r *KeyRing) Verify(s Signature) (Verified, error) {
	sig, err := sshsig.Unarmor(s.Armored)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: damaged: %v", ErrBadSignature, err)
	}
	if sig.Namespace != Namespace {
		return Verified{}, fmt.Errorf("%w: made for namespace %q, not %q", ErrBadSignature, sig.Namespace, Namespace)
	}
	if err := sig.HashAlgorithm.Available(); err != nil {
		return Verified{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !keyTypeAllowed(sig.PublicKey.Type()) {
		return Verified{}, fmt.Errorf("%w: %w %s", ErrBadSignature, ErrKeyType, sig.PublicKey.Type())
	}
	if err := sshsig.Verify(bytes.NewReader(s.Statement), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		return Verified{Key: sig.PublicKey}, fmt.Errorf("%w: the signature by %s does not match the statement: %v", ErrBadSignature, DescribeKey(sig.PublicKey, ""), err)
	}
	st, err := ParseStatement(s.Statement)
	if err != nil {
		return Verified{Key: sig.PublicKey}, fmt.Errorf("%w: signed text is not a statement: %v", ErrBadSignature, err)
	}
	return Verified{Key: sig.PublicKey, Trusted: r.Find(sig.PublicKey), Statement: st}, nil
}

// GenerateKey makes an Ed25519 key pair: the private key in OpenSSH's
// format (encrypted when passphrase is not empty) and the public key as a
// .pub line ("ssh-ed25519 AAAA... comment\n").
func GenerateKey(comment string, passphrase []byte) (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	var block *pem.Block
	if len(passphrase) > 0 {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, comment, passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, comment)
	}
	if err != nil {
		return nil, nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	line := bytes.TrimSpace(ssh.MarshalAuthorizedKey(sp))
	if comment != "" {
		line = append(append(line, ' '), comment...)
	}
	return pem.EncodeToMemory(block), append(line, '\n'), nil
}

// LoadSigner reads a private key file (OpenSSH or PEM format). An
// encrypted key asks passphrase for its passphrase. A file that holds a
// public key yields an error wrapping [ErrPublicKeyFile] and the key, so
// that the caller can ask the agent for its private half.
func LoadSigner(path string, passphrase func() ([]byte, error)) (ssh.Signer, ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	if pub, _, _, _, err := ssh.ParseAuthorizedKey(data); err == nil {
		return nil, pub, fmt.Errorf("%s: %w", path, ErrPublicKeyFile)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, nil, fmt.Errorf("key %s is encrypted and no passphrase can be asked for", path)
		}
		pw, perr := passphrase()
		if perr != nil {
			return nil, nil, fmt.Errorf("key %s: %w", path, perr)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(data, pw)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("key %s: %w", path, err)
	}
	if t := signer.PublicKey().Type(); !keyTypeAllowed(t) {
		return nil, nil, fmt.Errorf("key %s: %w %s: webfim signs with Ed25519 keys (webfim key generate, or ssh-keygen -t ed25519)", path, ErrKeyType, t)
	}
	return signer, signer.PublicKey(), nil
}

// AgentSigner connects to the ssh-agent at socket and returns the signer
// of want, or, when want is nil, of the agent's only Ed25519 key. The
// caller closes the returned closer when done signing.
func AgentSigner(socket string, want ssh.PublicKey) (ssh.Signer, io.Closer, error) {
	if socket == "" {
		return nil, nil, errors.New("no ssh-agent: SSH_AUTH_SOCK is not set")
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh-agent at %s: %w", socket, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh-agent at %s: %w", socket, err)
	}
	var candidates []ssh.Signer
	for _, s := range signers {
		pub := s.PublicKey()
		if want != nil && bytes.Equal(pub.Marshal(), want.Marshal()) {
			return s, conn, nil
		}
		if want == nil && keyTypeAllowed(pub.Type()) {
			candidates = append(candidates, s)
		}
	}
	if want == nil && len(candidates) == 1 {
		return candidates[0], conn, nil
	}
	conn.Close()
	switch {
	case want != nil:
		return nil, nil, fmt.Errorf("ssh-agent at %s does not hold the key %s (ssh-add it)", socket, DescribeKey(want, ""))
	case len(candidates) == 0:
		return nil, nil, fmt.Errorf("ssh-agent at %s holds no Ed25519 key (ssh-add one)", socket)
	case len(candidates) > 1:
		var names []string
		for _, s := range candidates {
			names = append(names, DescribeKey(s.PublicKey(), ""))
		}
		return nil, nil, fmt.Errorf("ssh-agent at %s holds %d Ed25519 keys (%s): choose one with --key FILE.pub", socket, len(candidates), strings.Join(names, ", "))
	}
	return nil, nil, fmt.Errorf("ssh-agent at %s holds no usable key", socket)
}
