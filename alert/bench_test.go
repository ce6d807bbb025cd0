package alert

import (
	"testing"

	"webfim/baseline"
	"webfim/policy"
)

// BenchmarkFromFileChange builds and encodes one alert document.
func BenchmarkFromFileChange(b *testing.B) {
	env := testEnv()
	c := fileChange(baseline.Added, "wp-content/uploads/2026/11/cache.php", true)
	v := policy.Default().EvaluateFile(c, policy.Context{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := FromFileChange(c, v, env).Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
