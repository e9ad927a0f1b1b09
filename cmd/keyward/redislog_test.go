package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestRedisClientLinesGoToTheLog: go-redis's own lines reach serve's log at
// debug level, in its format, and nothing when no serve runs.
func TestRedisClientLinesGoToTheLog(t *testing.T) {
	defer redisLogger.Store(redisLogger.Load())
	redisLogger.Store(nil)
	redisLog{}.Printf(context.Background(), "dial %s failed", "127.0.0.1:1") // dropped, and no panic
	var buf bytes.Buffer
	redisLogger.Store(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	redisLog{}.Printf(context.Background(), "dial %s failed", "127.0.0.1:1")
	if line := buf.String(); !strings.Contains(line, `"level":"DEBUG"`) || !strings.Contains(line, `"detail":"dial 127.0.0.1:1 failed"`) {
		t.Errorf("logged %q, want one debug line with the detail", line)
	}
}
