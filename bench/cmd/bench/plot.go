package main

import (
	"fmt"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// series is one named line of a plot.
type series struct {
	name string
	xys  plotter.XYs
}

// chart is one PNG.
type chart struct {
	file, title, x, y string
	logX, logY        bool
	lines             []series
}

// plots draws the figures of r into dir and returns the files written
// (a figure without data is left out).
func plots(dir string, r *Results) ([]string, error) {
	byThreshold := func(file, title, y string, logY bool, value func(*ThresholdResult) float64) chart {
		c := chart{file: file, title: title, x: "DIMSUM threshold (0 = exact)", y: y, logY: logY}
		for _, d := range r.Datasets {
			s := series{name: d.Name}
			for _, t := range d.Runs {
				s.xys = append(s.xys, plotter.XY{X: t.Threshold, Y: value(t)})
			}
			c.lines = append(c.lines, s)
		}
		return c
	}
	charts := []chart{
		byThreshold("time_vs_threshold.png", "Pipeline wall time", "wall time (s)", true,
			func(t *ThresholdResult) float64 { return t.Pipeline.WallSec }),
		byThreshold("pairs_vs_threshold.png", "Pairs emitted by the workers", "pairs emitted", true,
			func(t *ThresholdResult) float64 { return float64(t.InProcess.PairsEmitted) }),
		byThreshold("overlap_vs_threshold.png", fmt.Sprintf("Top-%d overlap with exact", r.TopN), "mean overlap", false,
			func(t *ThresholdResult) float64 { return t.Overlap }),
	}

	// Time and memory against the synthetic sets' sizes.
	bySize := func(file, title, y string, value func(Proc) float64) chart {
		c := chart{file: file, title: title, x: "interactions (synthetic)", y: y, logX: true, logY: true}
		lines := map[string]*series{}
		var order []string
		add := func(name string, x int, p Proc) {
			if lines[name] == nil {
				lines[name] = &series{name: name}
				order = append(order, name)
			}
			lines[name].xys = append(lines[name].xys, plotter.XY{X: float64(x), Y: value(p)})
		}
		for _, d := range r.Datasets {
			if d.Interactions == 0 {
				continue
			}
			for _, t := range d.Runs {
				if t.Threshold == 0 || t.Threshold == 0.1 {
					add(fmt.Sprintf("pipeline t=%g", t.Threshold), d.Interactions, t.Pipeline)
				}
			}
			add("scipy", d.Interactions, d.Scipy)
			add("Go single-process", d.Interactions, d.GoExact)
		}
		for _, name := range order {
			c.lines = append(c.lines, *lines[name])
		}
		return c
	}
	charts = append(charts,
		bySize("time_vs_size.png", "Wall time against input size", "wall time (s)", func(p Proc) float64 { return p.WallSec }),
		bySize("rss_vs_size.png", "Peak RSS against input size", "peak RSS (MiB)", func(p Proc) float64 { return p.MaxRSSMiB }))

	if s := r.Scaling; s != nil {
		// counters says whether a point comes from the pipeline's counters,
		// which are left out where they lost updates.
		byFactor := func(file, title, y string, counters bool, value func(ScaleRun) float64) chart {
			c := chart{file: file, title: fmt.Sprintf("%s, %d items", title, s.Items), x: "users (× the 1M set's)", y: y, logX: true, logY: true}
			for k, t := range s.Thresholds {
				line := series{name: fmt.Sprintf("t=%g", t)}
				if t == 0 {
					line.name = "exact"
				}
				for _, pt := range s.Points {
					if counters && !pt.Runs[k].CountersAgree {
						continue
					}
					line.xys = append(line.xys, plotter.XY{X: float64(pt.Factor), Y: value(pt.Runs[k])})
				}
				c.lines = append(c.lines, line)
			}
			return c
		}
		charts = append(charts,
			byFactor("scaling_pairs.png", "Pairs emitted", "pairs emitted", false, func(r ScaleRun) float64 { return float64(r.InProcessPairs) }),
			byFactor("scaling_shuffle.png", "Shuffle bytes (partial rows)", "MB", true, func(r ScaleRun) float64 { return float64(r.PartialBytes) / 1e6 }))
	}
	var files []string
	for _, c := range charts {
		if !c.hasData() {
			continue
		}
		if err := c.save(filepath.Join(dir, c.file)); err != nil {
			return nil, fmt.Errorf("%s: %v", c.file, err)
		}
		files = append(files, c.file)
	}
	return files, nil
}

func (c chart) hasData() bool {
	for _, s := range c.lines {
		if len(s.xys) > 0 {
			return true
		}
	}
	return false
}

func (c chart) save(path string) error {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text, p.Y.Label.Text = c.x, c.y
	if c.logX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if c.logY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	p.Legend.Top = true
	for k, s := range c.lines {
		var xys plotter.XYs
		for _, xy := range s.xys {
			if (!c.logX || xy.X > 0) && (!c.logY || xy.Y > 0) { // a log axis has no 0
				xys = append(xys, xy)
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(k), plotutil.Color(k), plotutil.Shape(k)
		l.Dashes = plotutil.Dashes(k)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Add(plotter.NewGrid())
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
