// Package meshload is canarygate's in-mesh load: generators that run inside the cluster (the demo app in load
// mode, package meshload/agent), so that calls between workloads are made — and measured — by workloads
// whose own proxies move between control planes, and so that the load can come from many pods rather than
// one runner. A stream (Start) is shaped like loadgen.Attack: it runs until its context ends, then drains
// every generator on a context of its own, and its results come on a channel in send order.
//
// A generator runs a vegeta attack and keeps every result, numbered from 1, in a bounded buffer until it is
// pulled; it never drops one silently (results that do not fit are counted as overflow, and a run with
// overflow is spoiled, not judged). canarygate pulls through the API server's pod proxy: GET /results?after=N
// returns the results after N, and asking for "after N" acknowledges everything up to N. A pull whose answer
// is lost is simply asked again, so nothing is lost or counted twice across restarts of the pull loop; a
// terminating generator stops its attack and keeps serving its buffer until it is empty. Each answer carries
// the generator's clock, from which the puller estimates the offset (with its bound) to place send times on
// canarygate's timeline.
//
// The answer's wire format. canarygate asks for format=bin1 (a query parameter, because the pull goes through
// the API server's pod proxy, whose client sets the Accept header and whose raw answer brings back no
// Content-Type): a compact binary batch, versioned — magic "\x89CGB", a version byte, the Batch header, a
// table of the batch's distinct strings, then each result as varint deltas (seq and send time from the
// previous result's) and string numbers; agent/wire.go has the layout. Every field of agent.Batch and of
// each agent.Result travels exactly. Why: one core must ingest 200 000 results/s, and as JSON a result was
// ~155 bytes to scan and three strings to allocate, where in binary it is ~15 bytes and its strings (the
// caller identity, the callee revision, the errors: a handful of distinct values) come once per batch
// (BenchmarkInMeshIngest measures both, the generators in another process). JSON stays: it is what a
// generator answers when asked for nothing (curl), and what one of an older release answers whatever it is
// asked, so the answer is decoded by its first byte ('{' or the magic), never by what was asked. A generator
// asked for a format it does not speak answers 400 naming those it does, and a binary batch of another
// version is refused naming both versions: a generators' image from another release than canarygate's is an
// error that says so, never garbage.
//
// The merger holds each stream's last Timeout of results (every generator's request may still complete
// that late), so memory grows with the stream's rate times its timeout, never with the run's length or
// the number of generators; each result is sorted and copied once while it waits.
package meshload
