// Package policy turns raw changes into decisions: for each
// [baseline.Change] or [serverconf.Change] it returns a [Verdict] naming
// the rule that matched, its severity and risk score, whether it is an
// alert or an expected event, and why.
//
// A [Policy] is the part of webfim.yml that judges changes; package config
// decodes the file and [Policy.Validate] checks the policy's values, with
// errors naming the key ([FieldError]). [Default] returns the built-in
// policy.
//
// Deploy windows come from two places: recurring and one-off windows in the
// file (evaluated in their IANA time zone, so daylight-saving changes are
// handled by the zone data), and ad-hoc windows opened by a CI/CD pipeline
// and kept in the database, passed to [Policy.WindowAt] as [Window] values.
//
// The rule catalog ([Rules]) is the single source of the rule documentation
// (docs/rules.md is generated from it by [CatalogMarkdown]).
package policy
