// Package scenarios is canarygate's scenario model: the YAML a user writes to describe an upgrade rehearsal
// (traffic streams, steps, gates, reports, clusters), its strict parser, its validation and its defaults, and
// the scenario files canarygate ships (embedded, found by name).
//
// Parsing is strict and exhaustive: unknown fields, wrong types and invalid values are all reported at once,
// each with file:line:column, the field path and what was expected, so a user fixes a scenario in one pass.
// Nothing runs until a scenario is fully valid.
//
// A step is a name plus exactly one action, and a gate is exactly one check; both are looked up by kind in a
// table the parser does not fill itself: each kind is registered once, with the code that carries it out, by
// runner.Register (actions) or checks.Register (gates), so a kind the parser accepts is one a run executes.
// Import github.com/canarygate/canarygate/builtin to parse with every shipped kind.
package scenarios
