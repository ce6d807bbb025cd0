package policy

import (
	"fmt"
	"testing"

	"webfim/baseline"
)

// BenchmarkEvaluateFile judges added files under the default policy plus
// a few ignore globs, as a burst of a deployed tree would be judged.
func BenchmarkEvaluateFile(b *testing.B) {
	p := mustParse(b, "ignore: ['**/*.log', '**/cache/**', '/srv/www/tmp/**']\n"+windowConfig("mon", "22:00", "02:00", "Europe/Berlin"))
	changes := make([]baseline.Change, 1000)
	for i := range changes {
		changes[i] = fileChange(baseline.Added, fmt.Sprintf("wp-content/plugins/p%d/includes/file%d.php", i%50, i))
	}
	now := utc("2026-11-26T10:30:00Z")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := changes[i%len(changes)]
		p.EvaluateFile(c, p.ContextAt(now, nil, nil))
	}
}
