//go:build !windows && !darwin

package policy

// platformCaseInsensitive is the default case sensitivity of roots (see
// [Policy.CaseInsensitive]): Linux and the BSDs' file systems keep case.
const platformCaseInsensitive = false
