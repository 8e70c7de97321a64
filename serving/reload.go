package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/recsys/itemsim/recommend"
)

// reloader loads models from a source into a server: once at start, then
// whenever the source's token changes. It is used by one goroutine.
type reloader struct {
	src    source
	srv    *server
	loaded token
	have   bool
	// gcHeadroom, when positive, is passed to tuneGC after each load.
	gcHeadroom int64
}

// check loads the source's current model if it is not the one served. On
// error the served model stays.
func (r *reloader) check(ctx context.Context) error {
	t, err := r.src.current(ctx)
	if err == nil && r.have && t == r.loaded {
		return nil
	}
	start := time.Now()
	var m *recommend.Model
	if err == nil {
		// The token loaded may be newer than the one polled.
		m, t, err = r.src.load(ctx)
	}
	if err != nil {
		r.srv.metrics.reloads[1].Add(1)
		slog.Error("model not loaded; serving the previous one, if any", "err", err)
		return err
	}
	r.srv.setModel(m)
	r.loaded, r.have = t, true
	r.srv.metrics.reloads[0].Add(1)
	slog.Info("model loaded", "version", m.Version(), "items", m.Items(), "popular", m.Popular(), "took", time.Since(start).Round(time.Millisecond))
	tuneGC(r.gcHeadroom)
	return nil
}

// every runs check at once, then every interval until ctx is done; an
// interval of 0 runs it once.
func every(ctx context.Context, interval time.Duration, check func(context.Context) error) {
	check(ctx)
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check(ctx)
		}
	}
}
