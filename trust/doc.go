// Package trust makes baselines tamper-evident: a content digest that
// covers every record, the server configuration inventory and the
// metadata of a baseline, signatures over it with SSH keys users already
// have (Ed25519, in ssh-agent or on a hardware token), and the checks that
// say which root, path or metadata field no longer matches what was
// signed.
//
// The digest is the SHA-256 of a [Statement]: a short canonical text that
// lists the metadata and, per web root and for the inventory, the number of
// leaves and the RFC 9162 Merkle root of their leaves (package merkle). A
// [Builder] computes it in the same pass that writes the baseline, record
// by record, in bounded memory, along with an [Index]: the hash of every
// chunk of 64 records and an 8-byte hint per record, from which a verifier
// names the records that differ. Signatures are SSH signatures (the sshsig
// format of `ssh-keygen -Y sign`) over the statement text in the
// namespace [Namespace], so `ssh-keygen -Y verify` checks them too.
//
// The encodings are specified in docs/trust.md precisely enough to verify
// a baseline without webfim.
package trust
