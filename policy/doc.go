// Package policy reads the webfim configuration file (webfim.yml) and turns
// raw changes into decisions: for each [baseline.Change] or
// [serverconf.Change] it returns a [Verdict] naming the rule that matched,
// its severity and risk score, whether it is an alert or an expected event,
// and why.
//
// The file is decoded strictly: an unknown key, a value of the wrong type or
// a bad value is an error naming the file, line and key, and wrapping
// [ErrInvalid]. [Default] returns the built-in policy that [Load] starts
// from.
//
// Deploy windows come from two places: recurring and one-off windows in the
// file (evaluated in their IANA time zone, so daylight-saving changes are
// handled by the zone data), and ad-hoc windows opened by a CI/CD pipeline
// and kept in the database, passed to [Policy.WindowAt] as [Window] values.
//
// The rule catalog ([Rules]) is the single source of the rule documentation
// (docs/rules.md is generated from it by [CatalogMarkdown]).
package policy
