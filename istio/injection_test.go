package istio

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// The same workload injected by 1-29 (a sidecar container) and by 1-30 (a native sidecar, its postStart hook
// gone, one env more): every such change is listed; the revision's name and the proxy image are expected,
// the rest is not — unless allowed.
func TestInjectionDiffNamesWhatInjectionChanged(t *testing.T) {
	t.Parallel()
	oldPod, newPod := pod(t, "pod-injected-1-29.yaml"), pod(t, "pod-injected-1-30.yaml")
	oldPod.Labels = map[string]string{"pod-template-hash": "5b8f7c6d4"}
	oldPod.Annotations["kubectl.kubernetes.io/restartedAt"] = "2026-12-06T03:00:00Z"
	before, after := InjectionView(&oldPod), InjectionView(&newPod)
	assert.Equal(t, "native sidecar (init container, restartPolicy Always)", after["sidecar"])
	assert.NotContains(t, before, "label pod-template-hash", "differs in every rollout: not injection")
	assert.NotContains(t, before, "annotation kubectl.kubernetes.io/restartedAt")

	changes := DiffInjection(before, after, "1-29", "1-30")
	byKey := map[string]InjectionChange{}
	for _, c := range changes {
		byKey[c.Key] = c
		back, err := ParseInjectionChange(c.String())
		require.NoError(t, err, c.String())
		assert.Equal(t, c, back, "the line form reads back")
	}
	assert.Equal(t, "", byKey["sidecar"].Expected, "sidecar → native sidecar is a change of its own")
	assert.Equal(t, "revision", byKey["container istio-proxy env CA_ADDR"].Expected, "istiod-1-29 → istiod-1-30 only")
	assert.Equal(t, "proxy image", byKey["container istio-proxy image"].Expected)
	assert.Equal(t, InjectionChange{Key: "initContainers", Before: "istio-init", After: "istio-validation,istio-proxy"}, byKey["initContainers"])
	assert.Equal(t, "revision", byKey["annotation istio.io/rev"].Expected)
	unexpected := Unexpected(changes, nil)
	require.NotEmpty(t, unexpected)
	for _, c := range unexpected {
		assert.Empty(t, c.Expected)
	}
	assert.Empty(t, Unexpected(changes, []string{"sidecar", "initContainers", "containers", "container ", "annotation", "label", "volume"}), "everything allowed")
}

// What every pod gets from the API server, whoever injects it, is no change: the service-account token
// volume's random name, also where Istio quotes the pre-injection spec (proxy.istio.io/overrides).
func TestInjectionViewIgnoresTheServiceAccountTokenVolumeName(t *testing.T) {
	t.Parallel()
	a, b := pod(t, "pod-injected-1-30.yaml"), pod(t, "pod-injected-1-30.yaml")
	for i, p := range []*corev1.Pod{&a, &b} {
		name := []string{"kube-api-access-lnn92", "kube-api-access-hjwdf"}[i]
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name})
		p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"})
		p.Annotations["proxy.istio.io/overrides"] = `{"containers":[{"name":"app","volumeMounts":[{"name":"` + name + `"}]}]}`
		p.Annotations["multi"] = "line one\nline two\n"
	}
	va, vb := InjectionView(&a), InjectionView(&b)
	assert.Empty(t, DiffInjection(va, vb, "1-30", "1-30"))
	assert.Equal(t, `line one\nline two\n`, va["annotation multi"], "one line")
}

func TestRevisionOnlyReplacesWholeNames(t *testing.T) {
	t.Parallel()
	assert.True(t, revisionOnly("istiod-old.istio-system.svc:15012", "istiod-new.istio-system.svc:15012", "old", "new"))
	assert.True(t, revisionOnly(`{"revision":"old"}`, `{"revision":"new"}`, "old", "new"))
	assert.False(t, revisionOnly("golden", "gnewen", "old", "new"), "not inside a word")
	assert.False(t, revisionOnly("istiod-old", "istiod-new-2", "old", "new"))
	c := InjectionChange{Key: "container istio-proxy lifecycle", Before: `{"postStart":{}}`}
	assert.Equal(t, `container istio-proxy lifecycle: {"postStart":{}} → (absent)`, c.String())
}
