//go:build !webfim_nodigest

package store

// benchNoDigest is set only in binaries built with the tag
// webfim_nodigest, which bench/trust.sh builds to measure what computing
// the digest costs ("digest off"): their baselines have no digest.
const benchNoDigest = false
