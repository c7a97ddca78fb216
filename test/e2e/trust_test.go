package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// rogueTrust writes the manifest of a root of trust of the drill's own — a root and an intermediate signing
// CA, as Istio's plugged-in CA takes them (tools/certs/Makefile.selfsigned.mk's layout: ca-cert.pem,
// ca-key.pem, root-cert.pem, cert-chain.pem) — as the Secret the rogue istiod reads through ROOT_CA_DIR, and
// the root as the ConfigMap its pods mount (global.trustBundleName): the namespace controller that would
// write it runs only in the leader istiod, which is not the rogue one. Generated per run: a committed key
// would expire, and nothing of it is secret.
func rogueTrust(t *testing.T, namespace, configMap string) string {
	t.Helper()
	now := time.Now()
	key := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rootKey, caKey := key(), key()
	// A subject unlike the istiod self-signed root's (O=cluster.local): the handshake error is then plainly
	// "signed by unknown authority".
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"canarygate drill"}, CommonName: "rogue root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{Organization: []string{"canarygate drill"}, CommonName: "rogue intermediate CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, root, &caKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	rootPEM, caPEM := enc("CERTIFICATE", rootDER), enc("CERTIFICATE", caDER)
	secret := corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "cacerts-rogue", Namespace: "istio-system"},
		Data: map[string][]byte{
			"ca-cert.pem": []byte(caPEM), "ca-key.pem": []byte(enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(caKey))),
			"root-cert.pem": []byte(rootPEM), "cert-chain.pem": []byte(caPEM + rootPEM),
		},
	}
	cm := corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: configMap, Namespace: namespace},
		Data:       map[string]string{"root-cert.pem": rootPEM},
	}
	var out bytes.Buffer
	for i, o := range []any{secret, cm} {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	path := filepath.Join(t.TempDir(), "rogue-trust.yaml")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
