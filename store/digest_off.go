//go:build webfim_nodigest

package store

// benchNoDigest: this binary is bench/trust.sh's "digest off" side, to
// measure what computing the digest costs. Its baselines have no digest:
// never ship it.
const benchNoDigest = true
