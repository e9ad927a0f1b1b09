package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// go-redis writes lines of its own (a dial that failed, for every command
// while Redis is down) straight to standard error, in its own format and
// over and over. keyward logs Redis being down and back itself, once
// (docs/scaling.md), so those lines go into serve's log at debug level, in
// its format; the CLI drops them.

// redisLogger is the log of the running serve, nil for none.
var redisLogger atomic.Pointer[slog.Logger]

// redisLog is go-redis's logger: it forwards to redisLogger.
type redisLog struct{}

func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	if l := redisLogger.Load(); l != nil {
		l.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
	}
}

// Set once, before any client exists: go-redis reads its logger unlocked.
func init() { goredis.SetLogger(redisLog{}) }
