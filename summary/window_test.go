package summary_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarygate/canarygate/summary"
)

// One rule for "during": a moment at a window's start is in it, one at its end is not; a span is in every
// window it overlaps; outages are named by what they were, disruptions by name.
func TestWindowsOverOneRuleForDuring(t *testing.T) {
	run := &summary.Run{Windows: []summary.Window{
		{Name: "istiod-down", Kind: summary.WindowKindDisruption, StartMs: 1000, EndMs: 2000},
		{Name: "outage-east", Kind: summary.WindowKindOutage, What: "API server of cluster east unreachable 12:00:01–12:00:03", StartMs: 1500, EndMs: 3000},
	}}
	assert.Equal(t, "disruption istiod-down", run.WindowLabels(1000, 1000), "a moment at the start")
	assert.Empty(t, run.WindowLabels(999, 999))
	assert.Equal(t, "API server of cluster east unreachable 12:00:01–12:00:03", run.WindowLabels(2000, 2000), "at istiod-down's end: only the outage")
	assert.Equal(t, "disruption istiod-down; API server of cluster east unreachable 12:00:01–12:00:03", run.WindowLabels(500, 1600))
	assert.Empty(t, run.WindowLabels(3000, 4000))
	assert.Len(t, run.WindowsOver(0, 5000), 2)
}
