// Package config reads the webfim configuration file, webfim.yml, into a
// [Config]: the policy's keys (embedded [policy.Policy]: roots, script
// extensions, no-script zones, deploy windows, allowed writers, ignore,
// rules), the server configs to inventory, the watch daemon's timings, the
// outbox bound and dead-letter file, and the outputs (each an
// [output.Config]).
//
// The file is decoded strictly by the YAML library (unknown keys
// rejected); an unknown key, a value of the wrong type or a bad value is
// an error naming the file, line and key and wrapping [ErrInvalid]:
//
//	webfim.yml:3: roots[0].exlude: unknown key (known keys: exclude, ignore, name, no_script_zones, path, script_extensions)
//
// The values are checked where they are defined: [policy.Policy.Validate]
// for the policy, [output.Config.Validate] for each output (the same check
// --output values and the outputs themselves apply), this package for the
// rest. [Default] is the built-in configuration that [Load] starts from.
package config
