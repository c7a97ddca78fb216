package istio

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// KubernetesSupport is Istio's support table (istio.io/latest/docs/releases/supported-releases, as of
// 2026-11): for each Istio minor, the Kubernetes minors it is tested and supported on. A rehearsal runs on
// a cluster both the old and the new control plane support; outside it, behaviour differs (from Kubernetes
// 1.33 injection switches to native sidecars), so the rehearsal would not rehearse what users run.
var KubernetesSupport = map[int][2]int{
	28: {30, 34},
	29: {31, 35},
	30: {32, 36},
}

// Version is an Istio release's major.minor.patch.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// ParseVersion reads "1.29.6" (a leading v and a pre-release suffix such as -beta.1 are accepted).
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("istio version %q: expected MAJOR.MINOR.PATCH", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("istio version %q: expected MAJOR.MINOR.PATCH", s)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

// KubernetesFor returns the Kubernetes minors (1.lo to 1.hi) that every given Istio version supports, from
// KubernetesSupport; hi is the one to rehearse on. A version newer than the table is given the newest known
// range (see NewerThanTable: callers warn); an error names versions older than the table, or ranges that do
// not meet.
func KubernetesFor(versions []string) (lo, hi int, err error) {
	return kubernetesFor(KubernetesSupport, versions)
}

func kubernetesFor(table map[int][2]int, versions []string) (lo, hi int, err error) {
	lo, hi = 0, 1<<30
	for _, s := range versions {
		v, err := ParseVersion(s)
		if err != nil {
			return 0, 0, err
		}
		r, ok := supportFor(table, v)
		if !ok {
			return 0, 0, fmt.Errorf("istio %s: not in canarygate's support table (known: %s); choose the node image yourself", v, knownMinors())
		}
		lo, hi = max(lo, r[0]), min(hi, r[1])
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("istio %s: no Kubernetes version supports all of them", strings.Join(versions, ", "))
	}
	return lo, hi, nil
}

// NewerThanTable lists the versions newer than canarygate's support table, which KubernetesFor gives the
// newest known range: a release published after this build is a warning to check Istio's supported-releases
// page, never an error that stops a plan.
func NewerThanTable(versions []string) []string {
	newest := newestKnown(KubernetesSupport)
	var out []string
	for _, s := range versions {
		if v, err := ParseVersion(s); err == nil && v.Major == 1 && v.Minor > newest {
			out = append(out, s)
		}
	}
	return out
}

// supportFor is a version's Kubernetes range: the table's, or the newest known one for a newer version.
func supportFor(table map[int][2]int, v Version) ([2]int, bool) {
	if v.Major != 1 {
		return [2]int{}, false
	}
	if r, ok := table[v.Minor]; ok {
		return r, true
	}
	if n := newestKnown(table); v.Minor > n {
		return table[n], true
	}
	return [2]int{}, false
}

func newestKnown(table map[int][2]int) int {
	n := 0
	for m := range table {
		n = max(n, m)
	}
	return n
}

func knownMinors() string {
	var ms []int
	for m := range KubernetesSupport {
		ms = append(ms, m)
	}
	sort.Ints(ms)
	out := make([]string, len(ms))
	for i, m := range ms {
		r := KubernetesSupport[m]
		out[i] = fmt.Sprintf("1.%d (Kubernetes 1.%d–1.%d)", m, r[0], r[1])
	}
	return strings.Join(out, ", ")
}
