package meshload

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/meshload/agent"
)

// A puller of one generator at 10/s (timeout 1 s) on a clock the test moves, pulling through src.
func testPuller(now *time.Time, src Source) *puller {
	return &puller{spec: Spec{Stream: "s", Timeout: time.Second},
		cfg: streamConfig{source: func(*cluster.Cluster, *corev1.Pod) Source { return src }, event: func(string) {},
			now: func() time.Time { return *now }},
		gens: map[string]*generator{}, merger: NewMerger(), share: vegeta.Rate{Freq: 10, Per: time.Second},
		schedules: map[string]*aggregate.Schedule{}}
}

func generatorPod(started time.Time) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gen-1", CreationTimestamp: metav1.NewTime(started)},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", StartTime: &metav1.Time{Time: started}}}
}

func drain(ch chan Timed) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// A generator that started, was never answered, then vanished may have sent since its start: lost at
// least 0 (nothing known), at most its schedule from its start to now plus a timeout — never "at most 0".
func TestAGeneratorGoneBeforeItsFirstPullLostWhatItsScheduleSays(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := t0.Add(2 * time.Second)
	p := testPuller(&now, func(context.Context, string, uint64, int) (agent.Batch, error) {
		return agent.Batch{}, errors.New("connection refused")
	})
	out := make(chan Timed, 100)
	p.pullPods(context.Background(), []corev1.Pod{generatorPod(t0)}, out)
	require.Empty(t, p.problems, "not answering yet is no loss")
	p.pullPods(context.Background(), nil, out)
	require.Len(t, p.problems, 1)
	require.ErrorIs(t, p.problems[0], ErrLost)
	assert.Contains(t, p.problems[0].Error(), "generator gen-1 went away with results never pulled: lost at least 0, at most 30 ",
		"10/s over its 2 s since it started, plus a 1 s timeout")
}

// A generator whose process restarted right after a pull that took everything: what it made between that
// pull and its end is gone, unknown but for its schedule — lost, never "nothing lost".
func TestAGeneratorRestartedRightAfterAFullPullLostWhatItsScheduleSays(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := t0
	boot := "a"
	p := testPuller(&now, func(_ context.Context, asked string, after uint64, _ int) (agent.Batch, error) {
		b := agent.Batch{Generator: "gen-1", Boot: boot, Now: now.UnixNano()}
		if boot == "a" {
			b.Produced = 2
			for seq := after + 1; seq <= 2; seq++ {
				b.Results = append(b.Results, agent.Result{Seq: seq, Sent: t0.Add(-time.Second).UnixNano(), Latency: int64(time.Millisecond), Code: 200})
			}
		}
		return b, nil
	})
	out := make(chan Timed, 100)
	p.pullPods(context.Background(), []corev1.Pod{generatorPod(t0.Add(-2 * time.Second))}, out)
	drain(out)
	require.Empty(t, p.problems)
	require.Equal(t, uint64(2), p.gens["gen-1"].cursor.Last, "everything it had made was pulled")

	boot, now = "b", t0.Add(time.Second) // restarted: a new process, numbering from 1 again
	p.pullPods(context.Background(), []corev1.Pod{generatorPod(t0.Add(-2 * time.Second))}, out)
	require.Len(t, p.problems, 1)
	require.ErrorIs(t, p.problems[0], ErrLost)
	assert.Contains(t, p.problems[0].Error(), "generator gen-1 restarted: lost at least 0, at most 20 ",
		"10/s over the 1 s since the last pull, plus a 1 s timeout")
}
