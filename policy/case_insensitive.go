//go:build windows || darwin

package policy

// platformCaseInsensitive is the default case sensitivity of roots (see
// [Policy.CaseInsensitive]): NTFS and APFS ignore case by default.
const platformCaseInsensitive = true
