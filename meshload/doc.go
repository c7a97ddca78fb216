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
package meshload
